// The agent's open chats: load and merge, the chat list, focus and keyboard switching, read marks.
import { str } from "./dom.js";
import { ordered, renderChatList } from "./chatlist.js";
import { $, arr, fill, num, S, toast } from "./state.js";
import { api } from "./api.js";
import { renderQueue } from "./queue.js";
import { buildCard, renderHead, renderMessages, scrollMessages } from "./chatview.js";
import { refreshSuggestions, renderContext } from "./context.js";
import { onComposerInput } from "./composer.js";
import { closePanel } from "./panels.js";

export function capacity() { return Math.max(1, num(S.me && S.me.capacity, 5)); }

export function renderLoad() {
  var n = Object.keys(S.chats).length;
  var cap = capacity();
  $("load-text").textContent = n + " / " + cap;
  $("load-fill").style.width = Math.min(100, Math.round(n / cap * 100)) + "%";
  $("load-fill").classList.toggle("full", n >= cap);
  $("chats-empty").hidden = n > 0;
  $("chats").hidden = n === 0;
  document.body.classList.toggle("at-capacity", n >= cap);
  var total = 0;
  Object.keys(S.chats).forEach(function (id) { total += S.chats[id].unread; });
  document.title = (total ? "(" + total + ") " : "") + "坐席工作台 · 示例银行";
  renderQueue();
}

var resyncSeq = 0;
export function resync() {
  var seq = ++resyncSeq;
  var startedAt = Date.now();
  return api("GET", "/agent/chats").then(function (list) {
    if (seq !== resyncSeq) return;
    var seen = {};
    arr(list).forEach(function (chat) {
      if (!chat || chat.id === undefined || chat.id === null) return;
      if (chat.status && chat.status !== "assigned") return;
      seen[str(chat.id)] = true;
      addChat(chat, false);
    });
    Object.keys(S.chats).forEach(function (id) {
      if (!seen[id] && S.chats[id].addedAt < startedAt) removeCard(id, true);
    });
  }).catch(function () { /* handled */ });
}

export function addChat(chat, fresh) {
  var id = str(chat.id);
  var v = S.chats[id];
  if (v) {
    updateChat(v, chat);
    return v;
  }
  v = buildCard(chat);
  S.chats[id] = v;
  v.unread = Math.max(0, num(chat.unread, 0));
  renderBadge(v);
  var box = $("chats");
  // keep the order of assignment
  var cards = box.querySelectorAll(".chat-card");
  var at = num(chat.assigned_at, 0) || Date.now() / 1000;
  v.order = at;
  var before = null;
  for (var i = 0; i < cards.length; i++) {
    var other = S.chats[cards[i].dataset.chatId];
    if (other && other.order > at) { before = cards[i]; break; }
  }
  box.insertBefore(v.card, before);
  if (fresh) {
    v.card.classList.add("fresh");
    window.setTimeout(function () { v.card.classList.remove("fresh"); }, 2500);
    v.card.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  S.queue = S.queue.filter(function (q) { return str(q.id) !== id; });
  renderLoad();
  refreshSuggestions(v);
  if (!S.focused || !S.chats[str(S.focused)]) focusChat(v, false);
  else renderList();
  scrollMessages(v, true);
  return v;
}

export function updateChat(v, chat) {
  var merged = Object.assign({}, v.chat, chat);
  if (!chat.context) merged.context = v.chat.context;
  v.chat = merged;
  renderHead(v);
  renderContext(v);
  if (Array.isArray(chat.messages) && chat.messages.length) {
    var missing = chat.messages.some(function (m) {
      return m && m.event_id !== undefined && m.event_id !== null && !v.rendered[str(m.event_id)];
    });
    if (missing) renderMessages(v);
  }
  if (chat.unread !== undefined && chat.unread !== null) {
    v.unread = Math.max(0, num(chat.unread, 0));
    renderBadge(v);
  }
}

export function removeCard(id, silent, why) {
  var v = S.chats[str(id)];
  if (!v) return;
  delete S.chats[str(id)];
  if (v.card.parentNode) v.card.parentNode.removeChild(v.card);
  if (S.focused === str(id)) {
    S.focused = null;
    var rest = ordered(Object.keys(S.chats).map(function (k) { return S.chats[k]; }));
    if (rest.length) focusChat(rest[0], false);
  }
  renderList();
  if (!silent && why) toast(why);
  renderLoad();
}

export function renderBadge(v) {
  v.badge.textContent = v.unread > 99 ? "99+" : String(v.unread);
  v.badge.hidden = v.unread <= 0;
  v.card.classList.toggle("has-unread", v.unread > 0);
  if ($("chat-list")) renderList();
}

export function renderList() {
  var views = Object.keys(S.chats).map(function (id) { return S.chats[id]; });
  renderChatList($("chat-list"), views, S.focused, function (w) { focusChat(w, true); });
  $("chat-list-empty").hidden = views.length > 0;
}

/** Show one chat (with its context panel) and put the cursor in its reply box. */
export function focusChat(v, withCursor) {
  markRead(v);
  renderList();
  if (v.tools) v.tools.refresh();
  scrollMessages(v, true);
  if (withCursor) v.input.focus();
}

export function focusNth(n) {
  var views = ordered(Object.keys(S.chats).map(function (id) { return S.chats[id]; }));
  if (views[n]) focusChat(views[n], true);
}

export function focusNextUnread() {
  var views = ordered(Object.keys(S.chats).map(function (id) { return S.chats[id]; }));
  var next = views.filter(function (w) { return w.unread > 0 && w.id !== S.focused; })[0];
  if (next) focusChat(next, true);
}

document.addEventListener("keydown", function (e) {
  if (S.loggedOut) return;
  var t = e.target;
  var typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT");
  if (e.altKey && /^Digit[1-5]$/.test(e.code)) { e.preventDefault(); focusNth(Number(e.code.slice(5)) - 1); return; }
  if (e.altKey && e.code === "KeyN") { e.preventDefault(); focusNextUnread(); return; }
  if (e.key === "Escape") {
    var cur = S.chats[str(S.focused)];
    if (cur && cur.panel) { closePanel(cur); return; }
    if (typing) { t.blur(); return; }
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[1-5]$/.test(e.key)) { e.preventDefault(); focusNth(Number(e.key) - 1); }
  else if (e.key === "n" || e.key === "N") { e.preventDefault(); focusNextUnread(); }
  else if (e.key === "/") {
    var v = S.chats[str(S.focused)];
    if (v) { e.preventDefault(); v.input.focus(); v.input.value = "/"; onComposerInput(v); }
  }
});

var readTimers = {};
export function markRead(v) {
  document.querySelectorAll(".chat-card.focused").forEach(function (c) {
    if (c !== v.card) c.classList.remove("focused");
  });
  v.card.classList.add("focused");
  var changed = S.focused !== v.id;
  S.focused = v.id;
  if (changed) renderList();
  if (v.unread <= 0 || readTimers[v.id]) return;
  v.unread = 0;
  renderBadge(v);
  renderLoad();
  readTimers[v.id] = true;
  api("POST", "/agent/chats/" + encodeURIComponent(v.id) + "/read").catch(function () { /* best effort */ })
    .then(function () { delete readTimers[v.id]; });
}

export function mine(chat) {
  if (!chat) return false;
  if (chat.status && chat.status !== "assigned") return false;
  if (S.me && S.me.id !== undefined && chat.agent_id !== undefined && chat.agent_id !== null) {
    return str(chat.agent_id) === str(S.me.id);
  }
  return true;
}
