// The widget's REST call: this browser's earlier conversation (the conversation token proves it is ours).

/** The stored bot, agent and user messages of ``sender`` (``[]`` when there are none or the token is refused). */
export function fetchHistory(sender, token) {
  return fetch("/conversations/" + encodeURIComponent(sender) + "/messages?history=1",
    { headers: { "X-Conversation-Token": token } }).then(function (r) {
    return r.ok ? r.json() : [];
  }).then(function (list) { return Array.isArray(list) ? list : []; });
}
