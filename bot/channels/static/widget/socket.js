// The customer websocket: connect, keep alive, reconnect with backoff, an outbox while offline.
// Every customer message has a message_id and stays "unacknowledged" (kept in sessionStorage, so a reload
// keeps it too) until the server's ack names it; after a reconnect or reload it is sent again with the same
// id. The server stores a message id once, so a resend never duplicates the message (docs/channels.md).
import { T } from "./i18n.js";
import { $status } from "./dom.js";
import { conversationToken, IDENTITY, randomId, SENDER } from "./session.js";

var UNACKED_KEY = "bankbot_unacked_" + SENDER;
var MESSAGE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

function loadUnacked() {
  var list = [];
  try { list = JSON.parse(sessionStorage.getItem(UNACKED_KEY) || "[]"); } catch (e) { list = []; }
  if (!Array.isArray(list)) return [];
  return list.filter(function (u) {
    return u && u.frame && typeof u.frame.text === "string" && MESSAGE_ID_RE.test(String(u.frame.message_id));
  });
}

// [{frame, shown, secret}] in the order sent; secret ones (passcodes) are kept in memory only, never stored
var unacked = loadUnacked();

function saveUnacked() {
  try {
    var keep = unacked.filter(function (u) { return !u.secret; });
    if (keep.length) sessionStorage.setItem(UNACKED_KEY, JSON.stringify(keep));
    else sessionStorage.removeItem(UNACKED_KEY);
  } catch (e) { /* storage disabled: resend still works while the page stays open */ }
}

/** A fresh client message id. */
export function newMessageId() { return "m" + randomId().slice(4); }

/** Messages sent but not acknowledged yet (oldest first): ``{frame, shown}``. */
export function unackedMessages() {
  return unacked.map(function (u) { return { frame: u.frame, shown: u.shown }; });
}

/** The server acknowledged (or already holds) the message ``messageId``: no more resends. */
export function acknowledged(messageId) {
  var before = unacked.length;
  unacked = unacked.filter(function (u) { return u.frame.message_id !== messageId; });
  if (unacked.length !== before) saveUnacked();
}

/**
 * Send a customer message frame with a message id (``frame.message_id`` is set when missing); it is resent
 * after a reconnect until acknowledged. ``shown`` is what the page shows of it; ``secret`` keeps it out of
 * storage (a passcode). Returns the message id.
 */
export function sendMessage(frame, shown, secret) {
  if (!frame.message_id) frame.message_id = newMessageId();
  unacked.push({ frame: frame, shown: shown || frame.text, secret: !!secret });
  saveUnacked();
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  return frame.message_id;
}

var handler = function () {};

/** Every frame from the server goes to ``fn``. */
export function onFrames(fn) { handler = fn; }

var ws = null;
var outbox = [];
var retry = 0;
var reconnectTimer = null;
var pingTimer = null;
var everOpened = false;

export function setConn(state) {
  document.body.dataset.conn = state;
  $status.textContent = state === "open" ? "" : (everOpened ? T.reconnecting : T.connecting);
}

export function connect() {
  reconnectTimer = null;
  setConn("connecting");
  // only the sender id goes into the URL (proxies log URLs): the token and the identity go in a first frame
  var url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host +
    "/webhooks/websocket?sender=" + encodeURIComponent(SENDER);
  var sock;
  try { sock = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
  ws = sock;
  sock.onopen = function () {
    if (ws !== sock) return;
    retry = 0;
    everOpened = true;
    setConn("open");
    // who we are, before anything else (a conversation that needs no proof yet ignores it)
    var token = conversationToken();
    if (token || IDENTITY) {
      var auth = { type: "auth" };
      if (token) auth.token = token;
      if (IDENTITY) auth.identity = IDENTITY;
      sock.send(JSON.stringify(auth));
    }
    // unacknowledged messages next, with their ids: the server stores each id once
    unacked.forEach(function (u) { sock.send(JSON.stringify(u.frame)); });
    while (outbox.length && sock.readyState === WebSocket.OPEN) sock.send(outbox.shift());
    if (pingTimer) window.clearInterval(pingTimer);
    pingTimer = window.setInterval(function () {
      if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  };
  sock.onmessage = function (ev) {
    var frame;
    try { frame = JSON.parse(ev.data); } catch (e) { return; }
    if (frame && frame.type === "ack" && typeof frame.message_id === "string") acknowledged(frame.message_id);
    try { handler(frame); } catch (e) { if (window.console) console.error(e); }
  };
  sock.onclose = function () {
    if (ws !== sock) return;
    ws = null;
    if (pingTimer) { window.clearInterval(pingTimer); pingTimer = null; }
    scheduleReconnect();
  };
  sock.onerror = function () { /* onclose follows */ };
}

export function scheduleReconnect() {
  setConn("connecting");
  if (reconnectTimer) return;
  var delay = Math.min(15000, 500 * Math.pow(2, retry)) * (0.8 + Math.random() * 0.4);
  retry = Math.min(retry + 1, 10);
  reconnectTimer = window.setTimeout(connect, delay);
}

export function sendFrame(frame) {
  var data = JSON.stringify(frame);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
  else outbox.push(data);
}

/** Send ``frame`` only if the socket is open now (typing notices are never kept for later). */
export function sendNow(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

/** The browser is back online: reconnect at once instead of waiting for the backoff. */
export function wakeUp() {
  if (!ws && reconnectTimer) { window.clearTimeout(reconnectTimer); connect(); }
}
