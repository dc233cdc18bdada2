// The waiting queue in the left column: urgency first, then wait; pull a chat.
import { button, clear, el, label, str } from "./dom.js";
import { $, arr, duration, fail, num, reasonName, S, skillName } from "./state.js";
import { api } from "./api.js";
import { addChat, capacity, resync } from "./chats.js";

export function loadQueue() {
  return api("GET", "/agent/queue").then(function (list) { setQueue(list); }).catch(function () { /* 403 etc. */ });
}

export function setQueue(list) {
  S.queue = arr(list).filter(function (c) { return c && c.id !== undefined && c.id !== null; });
  S.queueAt = Date.now();
  renderQueue();
}

export function waitedSince(item, receivedAt) {
  return num(item.wait_seconds, 0) + (Date.now() - receivedAt) / 1000;
}

export function renderQueue() {
  var ul = $("queue");
  clear(ul);
  var full = Object.keys(S.chats).length >= capacity();
  var rankOf = function (c) { return c.urgency && typeof c.urgency.rank === "number" ? c.urgency.rank : 4; };
  S.queue.slice().sort(function (a, b) {
    return rankOf(a) - rankOf(b) || num(b.wait_seconds, 0) - num(a.wait_seconds, 0);
  }).forEach(function (c) {
    var level = (c.urgency && c.urgency.level) || "none";
    var li = el("li", "queue-item urgency-" + level);
    li.dataset.chatId = str(c.id);
    var top = el("div", "qi-top");
    if (level !== "none") top.appendChild(el("span", "badge urgency " + level, label("urgency", level)));
    top.appendChild(el("span", "qi-name", c.customer_name || c.sender_id));
    top.appendChild(el("span", "qi-wait", duration(waitedSince(c, S.queueAt))));
    li.appendChild(top);
    var meta = el("div", "qi-meta");
    meta.appendChild(el("span", "chip skill", skillName(c.skill)));
    meta.appendChild(el("span", "qi-reason", reasonName(c.reason)));
    if (c.intent) meta.appendChild(el("span", "chip intent", label("intents", c.intent)));
    if (c.requeued) meta.appendChild(el("span", "chip soft", "重新排队"));
    li.appendChild(meta);
    if (c.preview) li.appendChild(el("div", "qi-preview", str(c.preview)));
    var pull = button("pull primary small", "接入");
    pull.title = full ? "已达接待上限" : "接入该客户";
    pull.disabled = full || S.pulling === str(c.id);
    pull.addEventListener("click", function () { pullChat(c, pull); });
    li.appendChild(pull);
    ul.appendChild(li);
  });
  $("queue-count").textContent = String(S.queue.length);
  $("queue-empty").hidden = S.queue.length > 0;
}

export function tickQueue() {
  var items = $("queue").querySelectorAll(".queue-item");
  for (var i = 0; i < items.length && i < S.queue.length; i++) {
    var w = items[i].querySelector(".qi-wait");
    var secs = waitedSince(S.queue[i], S.queueAt);
    if (w) w.textContent = duration(secs);
    items[i].classList.toggle("long", secs >= 120);
  }
}

export function pullChat(c, btn) {
  btn.disabled = true;
  S.pulling = str(c.id);
  api("POST", "/agent/chats/" + encodeURIComponent(c.id) + "/pull").then(function (data) {
    var chat = data && data.chat ? data.chat : data;
    if (chat && chat.id !== undefined) addChat(chat, true);
    S.queue = S.queue.filter(function (q) { return str(q.id) !== str(c.id); });
    // the chat may come back through chat_assigned instead of the response body
    if (!(chat && chat.id !== undefined)) resync();
  }).catch(fail("接入失败")).catch(function () { /* shown */ }).then(function () {
    S.pulling = null;
    renderQueue();
  });
}
