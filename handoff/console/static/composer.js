// The reply box: "/" quick phrases, sending a reply.
import { button, clear, el, label, LABELS, str } from "./dom.js";
import { attachAssist } from "./assist.js";
import { arr, ctxOf, fill, normCode, option, S, toast } from "./state.js";
import { api } from "./api.js";
import { cancelTyping, sendTyping } from "./socket.js";
import { markRead } from "./chats.js";
import { appendMessage } from "./chatview.js";
import { openPanel } from "./panels.js";

export function buildComposer(v) {
  var wrap = el("div", "composer");
  var menu = el("ul", "phrase-menu");
  menu.setAttribute("role", "listbox");
  menu.hidden = true;
  var input = el("textarea", "reply-input");
  input.rows = 2;
  input.maxLength = 2000;
  input.placeholder = "输入回复，/ 调出快捷短语，Enter 发送";
  input.setAttribute("aria-label", "回复客户");
  var send = button("reply-send primary", "发送");
  var save = button("save-phrase ghost tiny", "保存为短语");
  save.title = "把输入框中的内容保存为个人快捷短语";
  var row = el("div", "composer-row");
  row.appendChild(input);
  var side = el("div", "composer-side");
  side.appendChild(send);
  side.appendChild(save);
  row.appendChild(side);
  wrap.appendChild(menu);
  wrap.appendChild(row);
  var lintBox = el("div", "lint");
  wrap.appendChild(lintBox);
  v.assist = attachAssist(input, lintBox, api);
  v.input = input;
  v.menu = menu;
  v.menuItems = [];
  v.menuIndex = -1;

  input.addEventListener("input", function () {
    onComposerInput(v);
    // a real typing notice for the customer (throttled in socket.js); quick-phrase lookups are not typing
    if (input.value.trim() && input.value.trim().charAt(0) !== "/") sendTyping(v.id);
    else cancelTyping(v.id);
  });
  input.addEventListener("keydown", function (e) {
    if (!menu.hidden && v.menuItems.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        var n = v.menuItems.length;
        v.menuIndex = (v.menuIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        paintMenu(v);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        if (v.menuIndex >= 0) {
          e.preventDefault();
          pickPhrase(v, v.menuItems[v.menuIndex]);
          return;
        }
      }
      if (e.key === "Escape") { e.preventDefault(); hideMenu(v); return; }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendReply(v);
    }
  });
  input.addEventListener("blur", function () { window.setTimeout(function () { hideMenu(v); }, 150); });
  send.addEventListener("click", function () { sendReply(v); });
  save.addEventListener("click", function () { openPanel(v, "phrase"); });
  return wrap;
}

/** The "/token" just before the caret, or null. */
export function slashToken(input) {
  var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
  var before = input.value.slice(0, caret);
  var m = /(^|\s)(\/[^\s\/]{0,32})$/.exec(before);
  if (!m) return null;
  return { token: m[2], start: caret - m[2].length, end: caret };
}

var phraseSeq = 0;
export function onComposerInput(v) {
  var input = v.input;
  var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
  var before = input.value.slice(0, caret);
  // "/code " typed exactly: expand
  var exact = /(^|\s)(\/[^\s\/]{1,32}) $/.exec(before);
  if (exact) {
    var code = exact[2];
    var hit = S.phrases[normCode(code)];
    if (hit) {
      expand(v, caret - code.length - 1, caret, hit);
      hideMenu(v);
      return;
    }
    var seq = ++phraseSeq;
    loadPhrases(code.slice(1)).then(function () {
      if (seq !== phraseSeq) return;
      var found = S.phrases[normCode(code)];
      var now = input.value.slice(0, input.selectionStart || 0);
      if (found && now.slice(-code.length - 1) === code + " ") {
        var c = input.selectionStart || 0;
        expand(v, c - code.length - 1, c, found);
      }
    });
    hideMenu(v);
    return;
  }
  var tok = slashToken(input);
  if (!tok) { hideMenu(v); return; }
  var q = tok.token.slice(1);
  var mySeq = ++phraseSeq;
  window.clearTimeout(v.phraseTimer);
  v.phraseTimer = window.setTimeout(function () {
    loadPhrases(q).then(function (list) {
      if (mySeq !== phraseSeq) return;
      var again = slashToken(input);
      if (!again || again.token !== tok.token) return;
      showMenu(v, list || []);
    });
  }, 120);
}

export function loadPhrases(q) {
  return api("GET", "/agent/phrases?q=" + encodeURIComponent(q || "")).then(function (list) {
    list = arr(list).filter(function (p) { return p && p.code && typeof p.text === "string"; });
    list.forEach(function (p) { S.phrases[normCode(p.code)] = p; });
    return list;
  }).catch(function () { return []; });
}

/** Phrases grouped by scenario (greeting, soothing, elderly care, fraud, complaint, closing, ..., my phrases) in
 *  the order of the labels' phrase_groups; within a group, the chat's language first. */
export function groupPhrases(list, chatLang) {
  var order = Object.keys(LABELS.data.phrase_groups || {});
  var rank = function (g) { var i = order.indexOf(g); return i === -1 ? order.length : i; };
  var lang = chatLang === "en" ? "en" : "zh";
  var sorted = list.slice().sort(function (a, b) {
    return rank(a.group || "general") - rank(b.group || "general") ||
      (a.lang === lang ? 0 : 1) - (b.lang === lang ? 0 : 1) ||
      list.indexOf(a) - list.indexOf(b);
  });
  var groups = [];
  sorted.forEach(function (p) {
    var g = p.group || "general";
    if (!groups.length || groups[groups.length - 1].group !== g) groups.push({ group: g, phrases: [] });
    groups[groups.length - 1].phrases.push(p);
  });
  return groups;
}

export function showMenu(v, list) {
  var menu = v.menu;
  clear(menu);
  var groups = groupPhrases(list.slice(0, 60), ctxOf(v.chat).language);
  v.menuItems = [];
  groups.forEach(function (g) { v.menuItems = v.menuItems.concat(g.phrases); });
  v.menuIndex = v.menuItems.length ? 0 : -1;
  if (!v.menuItems.length) {
    menu.appendChild(el("li", "phrase-none", "没有匹配的短语"));
  }
  var i = 0;
  groups.forEach(function (g) {
    var head = el("li", "phrase-group", label("phrase_groups", g.group));
    head.setAttribute("role", "presentation");
    head.dataset.group = g.group;
    head.addEventListener("mousedown", function (e) { e.preventDefault(); });
    menu.appendChild(head);
    g.phrases.forEach(function (p) {
      var at = i++;
      var li = el("li", "phrase-item");
      li.setAttribute("role", "option");
      li.dataset.code = normCode(p.code);
      li.dataset.group = g.group;
      li.appendChild(el("span", "phrase-code", normCode(p.code)));
      li.appendChild(el("span", "phrase-text", fill(p.text, v.chat)));
      li.appendChild(el("span", "phrase-tag" + (p.shared ? " shared" : ""), p.shared ? "共享" : "个人"));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });
      li.addEventListener("click", function () { pickPhrase(v, p); });
      li.addEventListener("mouseenter", function () { v.menuIndex = at; paintMenu(v); });
      menu.appendChild(li);
    });
  });
  menu.hidden = false;
  paintMenu(v);
}

export function paintMenu(v) {
  var items = v.menu.querySelectorAll(".phrase-item");
  for (var i = 0; i < items.length; i++) {
    items[i].classList.toggle("active", i === v.menuIndex);
    items[i].setAttribute("aria-selected", i === v.menuIndex ? "true" : "false");
    if (i === v.menuIndex) items[i].scrollIntoView({ block: "nearest" });
  }
}

export function hideMenu(v) {
  v.menu.hidden = true;
  v.menuItems = [];
  v.menuIndex = -1;
}

export function pickPhrase(v, p) {
  var tok = slashToken(v.input);
  var caret = v.input.selectionStart === null ? v.input.value.length : v.input.selectionStart;
  if (tok) expand(v, tok.start, tok.end, p);
  else expand(v, caret, caret, p);
  hideMenu(v);
}

export function expand(v, start, end, p) {
  var input = v.input;
  var text = fill(p.text, v.chat);
  input.value = input.value.slice(0, start) + text + input.value.slice(end);
  var pos = start + text.length;
  input.focus();
  input.setSelectionRange(pos, pos);
}

export function sendReply(v) {
  var input = v.input;
  var text = fill(input.value, v.chat).trim();
  if (!text) return;
  cancelTyping(v.id);
  hideMenu(v);
  input.value = "";
  var local = { from: "agent", text: text, ts: Date.now() / 1000, pending: true, agent: S.me && S.me.name };
  var node = appendMessage(v, local, true);
  markRead(v);
  api("POST", "/agent/chats/" + encodeURIComponent(v.id) + "/messages", { text: text }).then(function (data) {
    var msg = data && data.message ? data.message : data;
    if (node) node.classList.remove("pending");
    local.pending = false;
    if (msg && msg.event_id !== undefined && msg.event_id !== null) {
      local.event_id = msg.event_id;
      v.rendered[str(msg.event_id)] = true;
      if (node) node.dataset.eventId = str(msg.event_id);
    }
  }).catch(function (err) {
    if (node) { node.classList.remove("pending"); node.classList.add("failed"); }
    v.localMessages = v.localMessages.filter(function (x) { return x !== local; });
    if (!input.value) input.value = text;
    if (!err.auth) toast("发送失败：" + err.message, "error");
  });
}
