/*
 * bankbot agent workspace (human handoff console). Native ES modules, no build step, no external resources.
 * API: docs/handoff.md. Security: every string from the server (customer text above all) is put into the
 * page through textContent / form values / attributes on nodes built here, never through innerHTML.
 * The login token lives in sessionStorage only.
 *
 * This main module wires the others: login/logout, status, tabs, the socket's frames, timers and boot.
 *   state.js     state, constants, small helpers       api.js        REST helper (token in a header)
 *   queue.js     the waiting queue                     chats.js      open chats, chat list, focus, keyboard
 *   chatview.js  one chat: header, messages, labels    context.js    context panel, guide suggestions
 *   composer.js  reply box, "/" quick phrases          panels.js     transfer / return / close / ticket / phrase
 *   socket.js    the agent websocket                   supervisor.js live queue + agent tables
 *   dom.js, chatlist.js, assist.js, tools.js, trainer.js, watch.js, report.js: shared and feature modules.
 * Display names come from GET /agent/labels (dom.js label()).
 */
import { label, loadLabels, str } from "./dom.js";
import { chime } from "./chatlist.js";
import { startTrainer } from "./trainer.js";
import { mountWatch } from "./watch.js";
import { mountReport } from "./report.js";
import { $, arr, RESYNC_MS, S, toast, TOKEN_KEY } from "./state.js";
import { api, setAuthLost } from "./api.js";
import { loadQueue, renderQueue, setQueue, tickQueue } from "./queue.js";
import { addChat, mine, removeCard, renderBadge, renderLoad, resync, updateChat } from "./chats.js";
import { appendMessage, hideCustomerTyping, showCustomerTyping } from "./chatview.js";
import { refreshSuggestions, renderContext } from "./context.js";
import { loadPhrases } from "./composer.js";
import { closeSocket, connect, initSocket } from "./socket.js";
import { startOverview, stopOverview } from "./supervisor.js";

// ------------------------------------------------------------------ login / logout
function showLogin(message) {
  document.body.dataset.view = "login";
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  var e = $("login-error");
  e.textContent = message || "";
  e.hidden = !message;
  $("login-submit").disabled = false;
  window.setTimeout(function () { ($("username").value ? $("password") : $("username")).focus(); }, 0);
}

function saveToken(token) {
  S.token = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* storage disabled: token stays in memory */ }
}

function loadToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

$("login-form").addEventListener("submit", function (ev) {
  ev.preventDefault();
  var username = $("username").value.trim();
  var password = $("password").value;
  var e = $("login-error");
  if (!username || !password) {
    e.textContent = "请输入用户名和密码";
    e.hidden = false;
    return;
  }
  $("login-submit").disabled = true;
  e.hidden = true;
  api("POST", "/agent/login", { username: username, password: password }).then(function (data) {
    if (!data || !data.token) throw new Error("登录失败");
    saveToken(str(data.token));
    $("password").value = "";
    start(data.agent || null);
  }).catch(function (err) {
    $("login-submit").disabled = false;
    e.textContent = err && err.status === 401 ? "用户名或密码错误" : "登录失败：" + (err && err.message ? err.message : "网络错误");
    e.hidden = false;
  });
});

function teardown() {
  S.loggedOut = true;
  closeSocket();
  stopOverview();
  Object.keys(S.chats).forEach(function (id) { removeCard(id, true); });
  S.queue = [];
  renderQueue();
  S.me = null;
}

function authLost() {
  if (S.loggedOut) return;
  saveToken(null);
  teardown();
  showLogin("登录已失效，请重新登录");
}

$("logout").addEventListener("click", function () {
  var done = function () { saveToken(null); teardown(); showLogin(""); };
  // going offline explicitly: chats are re-queued at once instead of after the disconnect grace period
  api("POST", "/agent/status", { status: "offline" }).then(done, done);
});

// ------------------------------------------------------------------ start
function start(agent) {
  S.loggedOut = false;
  document.body.dataset.view = "app";
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  if (agent) setMe(agent);
  loadLabels().then(function () { Object.keys(S.chats).forEach(function (id) { renderContext(S.chats[id]); }); });
  api("GET", "/agent/me").then(function (me) {
    if (!me) return;
    setMe(me);
    if (me.role === "trainer") startTrainer(api, toast);
    if (me.role === "supervisor") mountWatch(api, toast, S);
  }).catch(function () { /* handled */ });
  api("GET", "/agent/guides").then(function (list) {
    S.guides = arr(list).filter(function (g) { return g && g.guide_id; });
    S.guideTitles = {};
    S.guides.forEach(function (g) { S.guideTitles[str(g.guide_id)] = str(g.title); });
    Object.keys(S.chats).forEach(function (id) { renderContext(S.chats[id]); });
  }).catch(function () { /* optional */ });
  loadPhrases("");
  resync();
  loadQueue();
  connect();
}

function setMe(me) {
  S.me = me;
  $("me-name").textContent = str(me.name || me.username);
  $("me-role").textContent = label("roles", me.role);
  var sel = $("status-select");
  if (me.status && Array.prototype.some.call(sel.options, function (o) { return o.value === me.status; })) {
    sel.value = me.status;
  }
  document.body.dataset.status = sel.value;
  var sup = me.role === "supervisor";
  $("supervisor-tab").hidden = !sup;
  if (!sup && S.tab === "supervisor") showTab("workspace");
  renderLoad();
}

// ------------------------------------------------------------------ status
$("status-select").addEventListener("change", function () {
  var sel = this;
  var previous = (S.me && S.me.status) || "online";
  var value = sel.value;
  sel.disabled = true;
  api("POST", "/agent/status", { status: value }).then(function (data) {
    if (S.me) S.me.status = value;
    if (data && data.status && S.me) S.me = Object.assign(S.me, data);
    document.body.dataset.status = value;
    toast("状态已切换为“" + label("statuses", value) + "”");
  }).catch(function (err) {
    sel.value = previous;
    if (!err.auth) toast("切换状态失败：" + err.message, "error");
  }).then(function () { sel.disabled = false; });
});

// ------------------------------------------------------------------ tabs
function showTab(name) {
  S.tab = name;
  var sup = name === "supervisor";
  $("workspace").hidden = sup;
  $("supervisor").hidden = !sup;
  $("workspace-tab").classList.toggle("active", !sup);
  $("supervisor-tab").classList.toggle("active", sup);
  $("workspace-tab").setAttribute("aria-selected", sup ? "false" : "true");
  $("supervisor-tab").setAttribute("aria-selected", sup ? "true" : "false");
  if (sup) startOverview(); else stopOverview();
  if (sup) report.refresh();
}

var report = mountReport(function () { return S.token; });
$("workspace-tab").addEventListener("click", function () { showTab("workspace"); });
$("supervisor-tab").addEventListener("click", function () { showTab("supervisor"); });

function handleFrame(f) {
  window.dispatchEvent(new CustomEvent("bankbot:frame", { detail: f }));
  switch (f.type) {
    case "chat_assigned":
      if (f.chat && f.chat.id !== undefined) {
        var isNew = !S.chats[str(f.chat.id)];
        addChat(f.chat, true);
        if (isNew) toast("新会话：" + str(f.chat.customer_name || f.chat.sender_id));
      }
      break;
    case "customer_typing": {
      var tv = S.chats[str(f.chat_id)];
      if (tv) showCustomerTyping(tv);
      break;
    }
    case "customer_message": {
      var v = S.chats[str(f.chat_id)];
      if (!v) { resync(); break; }
      hideCustomerTyping(v);
      var m = Object.assign({ from: "customer" }, f.message || {});
      if (appendMessage(v, m, false)) {
        if (m.from === "customer") {
          v.unread += 1;
          if (v.id !== str(S.focused) || document.hidden) {
            chime();
            toast("新消息 · " + str(v.chat.customer_name) + "：" + str(m.text).slice(0, 30));
          } else if (document.activeElement && v.card.contains(document.activeElement)) {
            v.unread = 0;
            api("POST", "/agent/chats/" + encodeURIComponent(v.id) + "/read").catch(function () { /* best effort */ });
          }
          renderBadge(v);
          renderLoad();
          refreshSuggestions(v);
        }
      }
      break;
    }
    case "chat_updated": {
      var chat = f.chat;
      if (!chat || chat.id === undefined) break;
      var id = str(chat.id);
      if (!S.chats[id]) {
        if (mine(chat)) addChat(chat, true);
        break;
      }
      if (mine(chat)) { updateChat(S.chats[id], chat); break; }
      var why = chat.status === "closed" ? "会话已结束"
        : chat.status === "returned" ? "会话已转回机器人"
          : chat.status === "queued" ? "会话已重新排队" : "会话已转接";
      removeCard(id, false, why + "：" + str(chat.customer_name || chat.sender_id || id));
      break;
    }
    case "queue":
      setQueue(f.queue);
      break;
    case "error":
      if (/token/i.test(str(f.message))) break; // followed by a 4401 close
      toast("服务器：" + str(f.message), "error");
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------------ timers + boot
window.setInterval(function () {
  if (!S.loggedOut) tickQueue();
}, 1000);
window.setInterval(function () {
  if (!S.loggedOut) { resync(); if (!S.ws) loadQueue(); }
}, RESYNC_MS);

// ------------------------------------------------------------------ wiring of the modules
setAuthLost(authLost);
initSocket({
  onFrame: handleFrame,
  onReconnect: function () { resync(); loadQueue(); },
  onAuthLost: authLost
});

/** The status choices take their names from the labels endpoint too. */
function labelStatuses() {
  Array.prototype.forEach.call($("status-select").options, function (o) { o.textContent = label("statuses", o.value); });
}

// the display names first (statuses, reasons, roles, intents ...), then the page
loadLabels().then(function () {
  labelStatuses();
  var saved = loadToken();
  if (saved) {
    S.token = saved;
    start(null);
  } else {
    showLogin("");
  }
});
