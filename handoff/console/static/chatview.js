// One chat's view: header, messages, intent labelling.
import { button, clear, el, label, str } from "./dom.js";
import { mountTools } from "./tools.js";
import { arr, clock, ctxOf, fail, num, option, pct, reasonName, S, skillName, toast } from "./state.js";
import { api } from "./api.js";
import { markRead } from "./chats.js";
import { renderContext } from "./context.js";
import { buildComposer } from "./composer.js";
import { openPanel } from "./panels.js";

export function buildCard(chat) {
  var v = { id: str(chat.id), chat: chat, unread: 0, rendered: {}, localMessages: [], addedAt: Date.now(),
            ctxOpen: true, intentsSeen: {} };
  var card = el("article", "chat-card");
  card.dataset.chatId = v.id;
  card.tabIndex = -1;
  v.card = card;

  // header
  var head = el("header", "chat-head");
  v.head = head;
  v.nameEl = el("span", "chat-name");
  v.badge = el("span", "unread-badge");
  v.badge.setAttribute("aria-label", "未读消息");
  v.headMeta = el("div", "chat-head-meta");
  var line = el("div", "chat-head-line");
  line.appendChild(v.nameEl);
  line.appendChild(v.badge);
  v.since = el("span", "chat-since");
  line.appendChild(v.since);
  head.appendChild(line);
  head.appendChild(v.headMeta);
  card.appendChild(head);

  // context panel (collapsible)
  var ctx = el("section", "chat-context");
  var toggle = button("ctx-toggle", "");
  toggle.setAttribute("aria-expanded", "true");
  toggle.appendChild(el("span", "ctx-caret", "▾"));
  toggle.appendChild(el("span", null, "客户背景"));
  toggle.appendChild(el("span", "en", "Context"));
  v.ctxSummary = el("span", "ctx-summary");
  toggle.appendChild(v.ctxSummary);
  toggle.addEventListener("click", function () {
    v.ctxOpen = !v.ctxOpen;
    ctx.classList.toggle("collapsed", !v.ctxOpen);
    toggle.setAttribute("aria-expanded", v.ctxOpen ? "true" : "false");
  });
  v.ctxBody = el("div", "ctx-body");
  ctx.appendChild(toggle);
  ctx.appendChild(v.ctxBody);
  v.tools = mountTools(v, api, toast);
  ctx.appendChild(v.tools.node);
  card.appendChild(ctx);
  v.ctx = ctx;

  // messages
  v.list = el("div", "chat-messages");
  v.list.setAttribute("aria-live", "polite");
  v.stick = true;
  v.list.addEventListener("scroll", function () {
    var l = v.list;
    if (l.scrollTop === v.autoTop) return; // our own scroll (the layout may have changed since)
    v.stick = l.scrollHeight - l.scrollTop - l.clientHeight < 60;
  }, { passive: true });
  if (window.ResizeObserver) {
    // the list shrinks when suggestions / panels appear: keep the newest message in view
    new ResizeObserver(function () { if (v.stick) toBottom(v); }).observe(v.list);
  }
  card.appendChild(v.list);
  // "the customer is typing": shown on the server's customer_typing notices only (no guessing)
  v.typingNote = el("div", "typing-note", "客户正在输入…");
  v.typingNote.setAttribute("role", "status");
  v.typingNote.hidden = true;
  card.appendChild(v.typingNote);

  // knowledge-base suggestions
  v.sugg = el("div", "suggestions");
  v.suggHead = el("div", "sugg-head");
  v.suggHead.appendChild(el("span", null, "知识库推荐"));
  v.suggHead.appendChild(el("span", "en", "Suggested guides"));
  v.suggList = el("div", "sugg-list");
  v.sugg.appendChild(v.suggHead);
  v.sugg.appendChild(v.suggList);
  v.sugg.hidden = true;
  card.appendChild(v.sugg);

  // composer
  card.appendChild(buildComposer(v));

  // actions
  var actions = el("div", "chat-actions");
  var transfer = button("btn-transfer small", "转接");
  var ret = button("btn-return small", "转回机器人");
  var close = button("btn-close small danger", "结束");
  var ticket = button("btn-ticket small", "建工单");
  transfer.addEventListener("click", function () { openPanel(v, "transfer"); });
  ret.addEventListener("click", function () { openPanel(v, "return"); });
  close.addEventListener("click", function () { openPanel(v, "close"); });
  ticket.addEventListener("click", function () { openPanel(v, "ticket"); });
  actions.appendChild(transfer);
  actions.appendChild(ret);
  actions.appendChild(ticket);
  actions.appendChild(close);
  card.appendChild(actions);
  v.panelBox = el("div", "action-panel-box");
  card.appendChild(v.panelBox);

  // focusing the card marks it read
  card.addEventListener("mousedown", function () { markRead(v); });
  card.addEventListener("focusin", function () { markRead(v); });

  renderHead(v);
  renderContext(v);
  renderMessages(v);
  return v;
}

export function renderHead(v) {
  var c = v.chat;
  v.nameEl.textContent = str(c.customer_name || c.sender_id || ("会话 " + v.id));
  v.nameEl.title = "客户号 " + str(c.sender_id || ctxOf(c).customer_id);
  v.since.textContent = c.assigned_at ? clock(c.assigned_at) + " 接入" : "";
  clear(v.headMeta);
  var level = (c.urgency && c.urgency.level) || "none";
  v.headMeta.appendChild(el("span", "badge urgency " + level, label("urgency", level)));
  v.headMeta.appendChild(el("span", "chip skill", skillName(c.skill)));
  v.headMeta.appendChild(el("span", "chip reason", reasonName(c.reason || ctxOf(c).reason)));
  v.card.classList.toggle("high", level === "fraud" || level === "distressed");
}

export function scrollMessages(v, force) {
  var list = v.list;
  if (force) v.stick = true;
  if (v.stick) window.requestAnimationFrame(function () { toBottom(v); });
}

/** Scroll to the newest message; remembers the position so its scroll event is not taken for the user's. */
export function toBottom(v) {
  v.list.scrollTop = v.list.scrollHeight;
  v.autoTop = v.list.scrollTop;
}

export function customLine(custom) {
  if (!custom || typeof custom !== "object") return null;
  switch (custom.type) {
    case "guide": return str(custom.title) || S.guideTitles[str(custom.guide_id)] || str(custom.guide_id);
    case "guide_step":
      return (str(custom.title) || S.guideTitles[str(custom.guide_id)] || str(custom.guide_id)) +
        (custom.n !== undefined ? "（第 " + str(custom.n) + (custom.of !== undefined ? "/" + str(custom.of) : "") + " 步）" : "");
    case "survey": return "〔满意度评价卡片〕";
    case "handoff": return "〔" + label("handoff_notices", str(custom.status || "queued")) + "〕";
    case "queue": return null;
    case "care_mode": return "〔已切换关怀模式〕";
    case "otp": return "〔请客户输入验证码〕";
    case "ticket": return "〔工单" + (custom.ticket_id ? " T" + str(custom.ticket_id) : "") + (custom.status === "done" ? " 已完成" : "") + "〕";
    case "agent_joined": return "〔坐席已接入〕";
    default: return null;
  }
}

export function systemNote(v, text) {
  var empty = v.list.querySelector(".msg.system:only-child");
  if (empty) v.list.removeChild(empty);
  v.list.appendChild(el("div", "msg system", text));
  scrollMessages(v, true);
}

export function messageNode(v, m) {
  if (m.from === "system") return el("div", "msg system", m.text);
  var from = m.from === "customer" || m.from === "agent" ? m.from : "bot";
  var row = el("div", "msg " + from);
  if (m.event_id !== undefined && m.event_id !== null) row.dataset.eventId = str(m.event_id);
  var who = from === "customer" ? "客户" : from === "agent" ? str(m.agent || "坐席") : "机器人";
  var line = customLine(m.custom);
  var text = str(m.text);
  if (line && m.custom && (m.custom.type === "guide" || m.custom.type === "guide_step")) {
    var g = el("div", "guide-line");
    g.appendChild(el("span", "guide-icon", "📘 "));
    g.appendChild(el("span", "guide-title", line));
    if (m.custom.guide_id) g.title = str(m.custom.guide_id);
    row.appendChild(g);
    row.classList.add("has-guide");
  } else {
    var fallback = m.image ? "〔图片〕" : m.custom && m.custom.type ? "〔" + str(m.custom.type) + "〕" : "…";
    var bubble = el("div", "bubble", text || line || fallback);
    if (text && line) bubble.appendChild(el("div", "custom-line", line));
    if (Array.isArray(m.buttons) && m.buttons.length) {
      var bs = el("div", "msg-buttons");
      m.buttons.forEach(function (b) { if (b && b.title) bs.appendChild(el("span", "chip soft", b.title)); });
      bubble.appendChild(bs);
    }
    row.appendChild(bubble);
  }
  var meta = el("div", "msg-meta");
  meta.appendChild(el("span", "who", who));
  if (m.ts) meta.appendChild(el("span", "time", clock(m.ts)));
  if (from === "customer") {
    var lab = el("span", "intent-label");
    if (m.intent) v.intentsSeen[str(m.intent)] = true;
    setIntentLabel(lab, m.intent, m.confidence, false);
    meta.appendChild(lab);
    if (m.event_id !== undefined && m.event_id !== null) {
      var lb = button("label-btn tiny", "标注");
      lb.title = "更正该消息的意图";
      lb.addEventListener("click", function (ev) {
        ev.stopPropagation();
        openLabel(v, m, row, lab);
      });
      meta.appendChild(lb);
    }
  }
  if (m.pending) row.classList.add("pending");
  row.appendChild(meta);
  return row;
}

export function setIntentLabel(node, intent, confidence, corrected) {
  clear(node);
  if (!intent) return;
  node.appendChild(el("span", null, label("intents", intent)));
  node.title = str(intent);
  if (!corrected && confidence !== undefined && confidence !== null) node.appendChild(el("span", "conf", pct(confidence)));
  if (corrected) node.appendChild(el("span", "fixed", "✔ 已更正"));
  node.classList.toggle("low", !corrected && num(confidence, 1) < 0.5);
}

export function renderMessages(v) {
  var c = v.chat;
  clear(v.list);
  v.rendered = {};
  var msgs = arr(c.messages);
  if (!msgs.length) {
    // fall back to the transcript of the bot conversation (no event ids: no labelling)
    msgs = arr(ctxOf(c).transcript);
    if (msgs.length) v.list.appendChild(el("div", "msg system", "以下为机器人对话记录"));
  }
  msgs.forEach(function (m) {
    if (!m || typeof m !== "object") return;
    if (m.custom && m.custom.type === "queue") return;
    if (m.event_id !== undefined && m.event_id !== null) v.rendered[str(m.event_id)] = true;
    v.list.appendChild(messageNode(v, m));
  });
  // local agent messages the server has not confirmed with an event id yet
  v.localMessages = v.localMessages.filter(function (lm) {
    var dup = msgs.some(function (m) {
      if (!m || m.from !== "agent") return false;
      if (lm.event_id !== undefined && lm.event_id !== null) return str(m.event_id) === str(lm.event_id);
      return str(m.text) === str(lm.text) && num(m.ts, 0) >= lm.ts - 5;
    });
    if (!dup) v.list.appendChild(messageNode(v, lm));
    return !dup;
  });
  if (!v.list.childNodes.length) v.list.appendChild(el("div", "msg system", "暂无消息"));
  scrollMessages(v, true);
}

export function appendMessage(v, m, local) {
  if (!m || typeof m !== "object") return null;
  if (m.event_id !== undefined && m.event_id !== null) {
    if (v.rendered[str(m.event_id)]) return null;
    v.rendered[str(m.event_id)] = true;
  }
  var empty = v.list.querySelector(".msg.system:only-child");
  if (empty) v.list.removeChild(empty);
  if (!Array.isArray(v.chat.messages)) v.chat.messages = [];
  if (!local) v.chat.messages.push(m);
  else v.localMessages.push(m);
  var node = messageNode(v, m);
  v.list.appendChild(node);
  scrollMessages(v, m.from === "agent");
  return node;
}

// ------------------------------------------------------------------ intent labelling
export function knownIntents(v) {
  var set = {};
  S.guides.forEach(function (g) { set[str(g.guide_id)] = S.guideTitles[str(g.guide_id)] || ""; });
  Object.keys(S.chats).forEach(function (id) {
    var w = S.chats[id];
    Object.keys(w.intentsSeen).forEach(function (k) { if (k && !(k in set)) set[k] = ""; });
    arr(ctxOf(w.chat).intents).forEach(function (i) { if (i && i.intent && !(i.intent in set)) set[str(i.intent)] = ""; });
  });
  Object.keys(v.intentsSeen).forEach(function (k) { if (k && !(k in set)) set[k] = ""; });
  return Object.keys(set).sort().map(function (k) { return [k, set[k]]; });
}

export function openLabel(v, m, row, labelNode) {
  var open = row.querySelector(".label-box");
  if (open) { open.parentNode.removeChild(open); return; }
  var box = el("div", "label-box");
  var sel = el("select", "label-select");
  sel.setAttribute("aria-label", "选择正确意图");
  sel.appendChild(option("", "选择正确意图…"));
  knownIntents(v).forEach(function (p) {
    sel.appendChild(option(p[0], p[1] ? p[0] + " · " + p[1] : p[0], p[0] === m.intent));
  });
  var input = el("input", "label-input");
  input.type = "text";
  input.placeholder = "或输入意图名";
  input.maxLength = 64;
  input.setAttribute("aria-label", "意图名");
  var ok = button("label-submit primary tiny", "确定");
  var cancel = button("tiny ghost", "取消");
  box.appendChild(sel);
  box.appendChild(input);
  box.appendChild(ok);
  box.appendChild(cancel);
  row.appendChild(box);
  sel.focus();
  cancel.addEventListener("click", function () { box.parentNode.removeChild(box); });
  function submit() {
    var intent = input.value.trim() || sel.value;
    if (!intent) { input.focus(); return; }
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(intent)) { toast("意图名只能包含字母、数字和下划线", "error"); return; }
    ok.disabled = true;
    // ?sender= lets the server find the message without scanning every handed-off conversation
    var sender = str(v.chat.sender_id);
    var path = "/agent/messages/" + encodeURIComponent(m.event_id) + "/label" + (sender ? "?sender=" + encodeURIComponent(sender) : "");
    api("POST", path, { intent: intent }).then(function () {
      m.intent = intent;
      m.confidence = null;
      v.intentsSeen[intent] = true;
      setIntentLabel(labelNode, intent, null, true);
      row.classList.add("labelled");
      if (box.parentNode) box.parentNode.removeChild(box);
      toast("已标注为 " + intent);
    }).catch(fail("标注失败")).catch(function () { ok.disabled = false; });
  }
  ok.addEventListener("click", submit);
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); submit(); } });
  box.addEventListener("keydown", function (e) { if (e.key === "Escape" && box.parentNode) box.parentNode.removeChild(box); });
}

/** The customer is typing (a customer_typing frame): show it for a few seconds. */
export function showCustomerTyping(v) {
  v.typingNote.hidden = false;
  v.card.dataset.customerTyping = "1";
  window.clearTimeout(v.typingTimer);
  v.typingTimer = window.setTimeout(function () { hideCustomerTyping(v); }, 5000);
}

/** Their message arrived (or the notice ran out). */
export function hideCustomerTyping(v) {
  window.clearTimeout(v.typingTimer);
  v.typingNote.hidden = true;
  delete v.card.dataset.customerTyping;
}
