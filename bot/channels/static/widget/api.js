// The widget's REST calls: this browser's earlier conversation and what it missed while disconnected (the
// conversation token, or the bank app's identity, proves it is ours).
import { IDENTITY } from "./session.js";

/** The stored bot, agent and user messages of ``sender`` (``[]`` when there are none or the token is refused). */
export function fetchHistory(sender, token) {
  return fetch("/conversations/" + encodeURIComponent(sender) + "/messages?history=1",
    { headers: { "X-Conversation-Token": token } }).then(function (r) {
    return r.ok ? r.json() : [];
  }).then(function (list) { return Array.isArray(list) ? list : []; });
}

/** Bot and agent messages stored after event ``after`` (a reconnect: what the socket could not push). */
export function fetchMissed(sender, token, after) {
  var headers = {};
  if (token) headers["X-Conversation-Token"] = token;
  if (IDENTITY) headers["X-Customer-Identity"] = IDENTITY;
  return fetch("/conversations/" + encodeURIComponent(sender) + "/messages?after=" + encodeURIComponent(after),
    { headers: headers }).then(function (r) {
    return r.ok ? r.json() : [];
  }).then(function (list) { return Array.isArray(list) ? list : []; });
}
