/*
 * bankbot customer chat widget: native ES modules, no build step, no external resources.
 * Protocol: docs/channels.md (websocket channel). Security: message content is only ever put into
 * the page through textContent / attributes on nodes built here, never through innerHTML.
 *
 * This main module wires the others: the server's frames, the bot's pacing in care mode, the input box,
 * the customer's typing notices, history after a reload.
 *   widget/i18n.js     UI strings (zh, en), the page language
 *   widget/session.js  sender id, bank-app identity, conversation token
 *   widget/dom.js      safe element building, page elements, scrolling, lightbox
 *   widget/render.js   messages, guide cards, survey, queue banner, typing indicators
 *   widget/api.js      REST: the earlier conversation, what a reconnect missed
 *   widget/socket.js   the websocket with reconnect and outbox
 */
import { T, LANG } from "./widget/i18n.js";
import { conversationToken, saveConversationToken, SENDER } from "./widget/session.js";
import { $input, $messages, $send, defaultPlaceholder, scrollDown, str } from "./widget/dom.js";
import {
  chat, disableStale, hideAgentTyping, hideTyping, hooks, renderMessage, renderUser, showAgentTyping, showQueue,
  showTyping, systemNote, welcome
} from "./widget/render.js";
import { fetchHistory, fetchMissed } from "./widget/api.js";
import {
  acknowledged, connect, onFrames, sendMessage, sendNow, unackedMessages, wakeUp
} from "./widget/socket.js";

/** Messages sent before a reload that the server never acknowledged: shown as pending, resent on connect. */
function showUnacked(stored) {
  unackedMessages().forEach(function (u) {
    if (stored[u.frame.message_id]) { acknowledged(u.frame.message_id); return; } // it did arrive
    renderUser(u.shown, true).dataset.messageId = u.frame.message_id;
  });
}

// the stored events this page shows (bot and agent messages carry their event id) and the newest id it knows:
// after a reconnect it fetches what came later, so a reply written while it was away (e.g. by the server's
// restart recovery) appears without a reload, and nothing is shown twice
var shownIds = {};
var lastEventId = 0;
var sessions = 0;

/** Remember event ``id``; false when it was already shown. */
function remember(id) {
  var n = Number(id);
  if (!(n > 0)) return true;
  if (n > lastEventId) lastEventId = n;
  if (shownIds[n]) return false;
  shownIds[n] = true;
  return true;
}

/** After a reconnect: the bot and agent messages stored since the newest event this page knows. */
function catchUp() {
  var token = conversationToken();
  fetchMissed(SENDER, token, lastEventId).then(function (list) {
    list.forEach(function (m) {
      if (!m || typeof m !== "object") return;
      onFrame({ type: m.from === "agent" ? "agent" : "bot", message: m, agent: m.agent });
    });
  }).catch(function () { /* the next reconnect tries again */ });
}

/** Re-draw this browser's earlier conversation (the conversation token proves it is ours). */
function restoreHistory() {
  var token = conversationToken();
  if (!token) { welcome(); showUnacked({}); return Promise.resolve(); }
  return fetchHistory(SENDER, token).then(function (list) {
    var stored = {};
    list.forEach(function (m) { if (m.from === "user" && m.message_id) stored[m.message_id] = true; });
    if (!list.length) { welcome(); showUnacked(stored); return; }
    list.forEach(function (m) {
      remember(m.event_id);
      if (m.from === "user") {
        if (typeof m.text === "string" && m.text) renderUser(m.text, false);
      } else {
        var c = m.custom && typeof m.custom === "object" ? m.custom : null;
        if (c && (c.type === "survey" || c.type === "otp" || c.type === "queue")) return; // stale prompts
        renderMessage(m, m.from === "agent" ? "agent" : "bot", m.agent);
      }
    });
    disableStale();
    var note = systemNote(T.history, false);
    if (note) note.classList.add("history-mark");
    showUnacked(stored);
    scrollDown(true);
  }).catch(function () { welcome(); showUnacked({}); });
}

// care mode: a message may ask for slower pacing (custom.pacing_ms); the bot messages after it wait
var botQueue = [];
var pacingUntil = 0;
var pacingTimer = null;

function drainBotQueue() {
  pacingTimer = null;
  while (botQueue.length) {
    var wait = pacingUntil - Date.now();
    if (wait > 0) {
      showTyping();
      pacingTimer = window.setTimeout(drainBotQueue, wait);
      return;
    }
    var m = botQueue.shift();
    hideTyping();
    renderMessage(m, "bot");
    var pace = m && m.custom && Number(m.custom.pacing_ms);
    if (pace > 0) pacingUntil = Date.now() + Math.min(pace, 5000);
  }
}

function onFrame(frame) {
  if (!frame || typeof frame !== "object") return;
  if ((frame.type === "bot" || frame.type === "agent") && frame.message && typeof frame.message === "object" &&
      !remember(frame.message.event_id)) return; // already shown (pushed, then fetched after a reconnect)
  switch (frame.type) {
    case "bot":
      botQueue.push(frame.message);
      if (!pacingTimer) drainBotQueue();
      break;
    case "agent_typing":
      if (chat.withAgent) showAgentTyping(frame.agent);
      break;
    case "agent":
      hideTyping();
      hideAgentTyping();
      chat.withAgent = true;
      renderMessage(frame.message, "agent", frame.agent);
      break;
    case "queue":
      showQueue(frame.queue_position, frame.eta_seconds);
      break;
    case "ack":
      var pending = null;
      if (typeof frame.message_id === "string") {
        $messages.querySelectorAll(".msg.user.pending").forEach(function (row) {
          if (!pending && row.dataset.messageId === frame.message_id) pending = row;
        });
      }
      if (!pending && typeof frame.message_id !== "string") pending = $messages.querySelector(".msg.user.pending");
      remember(frame.event_id);
      if (pending) {
        pending.classList.remove("pending");
        if (frame.event_id !== undefined) pending.dataset.eventId = str(frame.event_id);
      }
      break;
    case "session":
      // the secret that lets this browser re-open its own conversation later
      if (frame.token) {
        saveConversationToken(str(frame.token));
      }
      sessions += 1;
      if (sessions > 1) catchUp(); // a reconnect: pushes made while the socket was down never arrived
      break;
    case "error":
      hideTyping();
      systemNote(T.serverError + str(frame.message), true);
      break;
    default:
      break; // pong and anything unknown
  }
}

// ------------------------------------------------------------------ input
function sendText(text, shown) {
  text = str(text).trim();
  if (!text) return;
  disableStale();
  var row = renderUser(shown || text, true);
  // a message id: resent after a reconnect or reload until acknowledged, never stored twice by the server
  row.dataset.messageId = sendMessage({ type: "message", text: text, metadata: { lang: LANG, client: "web-widget" } },
    shown || text, !!shown);
  if (!chat.withAgent) showTyping(); // a person's typing is not known here: no dots while with an agent
}

function submitInput() {
  cancelTypingNotice();
  var text = $input.value.trim();
  if (!text) { $input.value = ""; return; }
  $input.value = "";
  var shown = null;
  if ($input.dataset.otp) {
    delete $input.dataset.otp;
    $input.placeholder = defaultPlaceholder;
    $input.inputMode = "text";
    if (/^\d{4,8}$/.test(text)) shown = new Array(text.length + 1).join("•"); // never echo a passcode
  }
  sendText(text, shown);
  $input.focus();
}

// the customer is typing: the agent serving them is told (at most every 2 s, the end of a burst included;
// never queued for a later connection)
var typingSentAt = 0;
var typingTimer2 = null;

function sendTypingNow() {
  typingTimer2 = null;
  if (!chat.withAgent || !$input.value.trim()) return;
  if (sendNow({ type: "typing" })) typingSentAt = Date.now();
}

function cancelTypingNotice() {
  if (typingTimer2) { window.clearTimeout(typingTimer2); typingTimer2 = null; }
}

$input.addEventListener("input", function () {
  if (!chat.withAgent || !$input.value.trim() || $input.dataset.otp) { cancelTypingNotice(); return; }
  var wait = 2000 - (Date.now() - typingSentAt);
  if (wait <= 0) sendTypingNow();
  else if (!typingTimer2) typingTimer2 = window.setTimeout(sendTypingNow, wait);
});

$send.addEventListener("click", submitInput);
$input.addEventListener("keydown", function (e) {
  if (e.key !== "Enter" || e.shiftKey) return;
  if (e.isComposing || e.keyCode === 229) return; // IME (pinyin) is still composing
  e.preventDefault();
  submitInput();
});

window.addEventListener("online", function () {
  wakeUp();
});

// exposed for debugging / tests (read-only information, no way to inject markup)
window.bankbotWidget = { sender: SENDER, lang: LANG };

var $human = document.getElementById("human");
if ($human) {
  $human.textContent = T.human;
  $human.addEventListener("click", function () { sendText(T.humanAsk); });
}

hooks.sendText = sendText;
onFrames(onFrame);
restoreHistory().then(connect, connect);
