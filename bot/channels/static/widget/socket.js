// The customer websocket: connect, keep alive, reconnect with backoff, an outbox while offline.
import { T } from "./i18n.js";
import { $status } from "./dom.js";
import { conversationToken, IDENTITY, SENDER } from "./session.js";

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
  var token = conversationToken();
  var url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host +
    "/webhooks/websocket?sender=" + encodeURIComponent(SENDER) +
    (token ? "&token=" + encodeURIComponent(token) : "") +
    (IDENTITY ? "&identity=" + encodeURIComponent(IDENTITY) : "");
  var sock;
  try { sock = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
  ws = sock;
  sock.onopen = function () {
    if (ws !== sock) return;
    retry = 0;
    everOpened = true;
    setConn("open");
    while (outbox.length && sock.readyState === WebSocket.OPEN) sock.send(outbox.shift());
    if (pingTimer) window.clearInterval(pingTimer);
    pingTimer = window.setInterval(function () {
      if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  };
  sock.onmessage = function (ev) {
    var frame;
    try { frame = JSON.parse(ev.data); } catch (e) { return; }
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
