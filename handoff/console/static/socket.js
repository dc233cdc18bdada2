// The agent websocket: connect, keep alive, reconnect with backoff.
import { $, PING_MS, S } from "./state.js";
import { api } from "./api.js";

/** ``onFrame(frame)``, ``onReconnect()``, ``onAuthLost()``: set by the console with initSocket. */
var hooks = { onFrame: function () {}, onReconnect: function () {}, onAuthLost: function () {} };

export function initSocket(h) { hooks = Object.assign(hooks, h); }

/** The socket's URL: no token in it (the token goes in the first frame, see connect). */
export function wsUrl() {
  var proto = location.protocol === "https:" ? "wss:" : "ws:";
  return proto + "//" + location.host + "/agent/ws";
}

var typing = {}; // chat id -> { last: ms, timer }
var TYPING_MS = 2000;

/** Tell the customer of chat ``chatId`` that the agent is typing: at most every 2 s per chat, the last
 *  keystroke of a burst still announced (a trailing notice) unless the reply went out first. */
export function sendTyping(chatId) {
  var t = typing[chatId] || (typing[chatId] = { last: 0, timer: null });
  var wait = TYPING_MS - (Date.now() - t.last);
  if (wait <= 0) { fireTyping(chatId); return; }
  if (!t.timer) t.timer = window.setTimeout(function () { t.timer = null; fireTyping(chatId); }, wait);
}

/** The reply was sent (or the box emptied): no trailing notice. */
export function cancelTyping(chatId) {
  var t = typing[chatId];
  if (t && t.timer) { window.clearTimeout(t.timer); t.timer = null; }
}

function fireTyping(chatId) {
  var ws = S.ws;
  if (!ws || ws.readyState !== 1) return;
  typing[chatId].last = Date.now();
  ws.send(JSON.stringify({ type: "typing", chat_id: Number(chatId) }));
}

export function setConn(state) {
  document.body.dataset.conn = state;
  var text = { open: "● 已连接", connecting: "连接中…", retry: "连接断开，正在重连…", closed: "未连接" }[state];
  $("conn").textContent = text || state;
}

export function connect() {
  if (S.loggedOut || !S.token) return;
  window.clearTimeout(S.wsTimer);
  setConn(S.wsAttempt ? "retry" : "connecting");
  var ws;
  try { ws = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
  S.ws = ws;
  ws.onopen = function () {
    if (S.ws !== ws) return;
    ws.send(JSON.stringify({ type: "auth", token: S.token || "" }));
    var reconnected = S.wsAttempt > 0 || S.wasOpen;
    S.wsAttempt = 0;
    S.wasOpen = true;
    setConn("open");
    window.clearInterval(S.pingTimer);
    S.pingTimer = window.setInterval(function () {
      if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
    if (reconnected) hooks.onReconnect();
  };
  ws.onmessage = function (ev) {
    if (S.ws !== ws) return;
    var frame;
    try { frame = JSON.parse(ev.data); } catch (e) { return; }
    if (frame && typeof frame === "object") hooks.onFrame(frame);
  };
  ws.onclose = function (ev) {
    if (S.ws !== ws) return;
    S.ws = null;
    window.clearInterval(S.pingTimer);
    if (S.loggedOut) { setConn("closed"); return; }
    if (ev && ev.code === 4401) { hooks.onAuthLost(); return; }
    setConn("retry");
    // an expired token makes the upgrade fail: /agent/me answers 401 and logs out
    api("GET", "/agent/me").catch(function () { /* handled */ });
    scheduleReconnect();
  };
}

export function scheduleReconnect() {
  if (S.loggedOut) return;
  S.wsAttempt += 1;
  var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(S.wsAttempt - 1, 5)));
  delay = delay * (0.75 + Math.random() * 0.5);
  window.clearTimeout(S.wsTimer);
  S.wsTimer = window.setTimeout(connect, delay);
}

export function closeSocket() {
  window.clearTimeout(S.wsTimer);
  window.clearInterval(S.pingTimer);
  var ws = S.ws;
  S.ws = null;
  S.wsAttempt = 0;
  S.wasOpen = false;
  if (ws) { try { ws.close(1000, "logout"); } catch (e) { /* ignore */ } }
  setConn("closed");
}
