/*
 * bankbot agent workspace (human handoff console). Plain JS, no build step, no external resources.
 * API: docs/handoff.md. Security: every string from the server (customer text above all) is put into the
 * page through textContent / form values / attributes on nodes built here, never through innerHTML.
 * The login token lives in sessionStorage only.
 */
// The agent console's main module: chat views, context panel, composer, panels, socket, supervisor view.
// Shared pieces live in their own ES modules (no build step): dom.js, chatlist.js, assist.js, tools.js,
// trainer.js, watch.js.
import { button, clear, el, label, loadLabels, str } from "./dom.js";
import { chime, ordered, renderChatList } from "./chatlist.js";
import { attachAssist } from "./assist.js";
import { mountTools } from "./tools.js";
import { startTrainer } from "./trainer.js";
import { mountWatch } from "./watch.js";
import { mountReport } from "./report.js";

(function () {
  "use strict";

  // ------------------------------------------------------------------ constants + labels
  var TOKEN_KEY = "bankbot_agent_token";
  var PING_MS = 25000;
  var RESYNC_MS = 60000;
  var OVERVIEW_MS = 3000;

  var SKILLS = {
    consultation: "咨询", inquiry: "查询", operation: "业务办理", value_added: "增值服务", general: "综合"
  };
  var REASONS = {
    asked: "客户要求人工", complaint: "投诉", distress: "情绪激动", repeated_failure: "多次未解决",
    policy: "业务规定", low_confidence: "识别不确定", identity_check: "身份核验"
  };
  var STATUSES = { online: "在线", away: "离开", offline: "离线" };
  var ROLES = { agent: "坐席", supervisor: "班长", trainer: "训练师" };
  var SIGNALS = {
    elderly_message: "长者用语", distressed_message: "情绪低落/激动", shouting: "语气激烈",
    still_not_working: "按指引仍未解决", repeated_question: "重复提问", failed_clarifications: "多次澄清失败",
    short_reply_after_wait: "久等后简短回复"
  };
  var DISPOSITIONS = [
    ["resolved", "已解决"], ["follow_up", "需跟进"], ["no_response", "客户无响应"],
    ["transferred_offline", "转线下处理"], ["other", "其他"]
  ];
  var TICKET_KINDS = [["callback", "回电"], ["result_notice", "结果通知"]];
  var CHANNELS = { web: "网页", websocket: "网页/App", rest: "接口", app: "App" };

  // ------------------------------------------------------------------ helpers

  function option(value, text, selected) {
    var o = el("option", null, text);
    o.value = str(value);
    if (selected) o.selected = true;
    return o;
  }


  function $(id) { return document.getElementById(id); }

  function num(v, dflt) { var n = Number(v); return isFinite(n) ? n : dflt; }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function clock(ts) {
    var t = num(ts, 0);
    if (!t) return "";
    var d = new Date(t * 1000);
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function duration(seconds) {
    var s = Math.max(0, Math.floor(num(seconds, 0)));
    if (s < 60) return s + "秒";
    if (s < 3600) return Math.floor(s / 60) + "分" + pad(s % 60) + "秒";
    return Math.floor(s / 3600) + "时" + pad(Math.floor((s % 3600) / 60)) + "分";
  }

  function pct(v) {
    var n = num(v, NaN);
    return isFinite(n) ? Math.round(n * 100) + "%" : "";
  }

  function skillName(s) { return SKILLS[s] || str(s) || "—"; }
  function reasonName(r) { return REASONS[r] || str(r) || "—"; }

  function ctxOf(chat) { return chat && chat.context && typeof chat.context === "object" ? chat.context : {}; }
  /** Care info: inside the context, or at the top level of queue items (queue frames carry no context). */
  function careOf(chat) {
    var c = ctxOf(chat).care;
    if (!(c && typeof c === "object") && chat) c = chat.care;
    return c && typeof c === "object" ? c : {};
  }
  function arr(v) { return Array.isArray(v) ? v : []; }

  /** Care flags shown as badges: elderly customer, emotional customer. */
  function careFlags(chat) {
    var care = careOf(chat);
    var signals = arr(care.signals);
    var trend = arr(care.distress_trend).map(Number).filter(isFinite);
    var reason = chat.reason || ctxOf(chat).reason;
    var flags = [];
    if (signals.indexOf("elderly_message") !== -1) flags.push(["elderly", "长者"]);
    if (signals.indexOf("distressed_message") !== -1 || signals.indexOf("shouting") !== -1 ||
        reason === "distress" || reason === "complaint" || (trend.length && trend[trend.length - 1] >= 0.5)) {
      flags.push(["distress", "情绪"]);
    }
    return flags;
  }

  function flagBadges(chat) {
    var box = el("span", "flags");
    careFlags(chat).forEach(function (f) { box.appendChild(el("span", "badge care " + f[0], f[1])); });
    return box;
  }

  function priorityBadge(priority) {
    if (priority === "high") return el("span", "badge prio-high", "高优先");
    return el("span", "badge prio-normal", "普通");
  }

  function fill(template, chat) {
    var name = chat && chat.salutation !== undefined ? str(chat.salutation) : str(chat && chat.customer_name);
    var me = str(S.me && (S.me.name || S.me.username));
    return str(template).replace(/\{customer_name\}/g, name).replace(/\{agent_name\}/g, me);
  }

  function normCode(code) { return "/" + str(code).replace(/^\/+/, ""); }

  // ------------------------------------------------------------------ state
  var S = {
    token: null,
    me: null,
    chats: {},          // id -> view
    queue: [],
    queueAt: 0,         // local time the queue was received (wait_seconds tick from there)
    guides: [],
    guideTitles: {},
    phrases: {},        // "/code" -> phrase
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    pingTimer: null,
    loggedOut: true,
    tab: "workspace",
    overviewTimer: null,
    agentsSeen: []
  };

  // ------------------------------------------------------------------ toasts
  function toast(text, kind) {
    var box = $("toasts");
    var t = el("div", "toast" + (kind ? " " + kind : ""), text);
    box.appendChild(t);
    while (box.childNodes.length > 4) box.removeChild(box.firstChild);
    window.setTimeout(function () { t.classList.add("out"); }, 3600);
    window.setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, 4200);
  }

  function fail(prefix) {
    return function (err) {
      if (err && err.auth) return;
      toast(prefix + "：" + (err && err.message ? err.message : "网络错误"), "error");
      throw err;
    };
  }

  // ------------------------------------------------------------------ REST
  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (S.token) headers.Authorization = "Bearer " + S.token;
    var init = { method: method, headers: headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (raw) {
        var data = null;
        if (raw) { try { data = JSON.parse(raw); } catch (e) { data = null; } }
        if (res.ok) return data;
        var message = data && typeof data === "object" && data.message ? str(data.message) : "HTTP " + res.status;
        var err = new Error(message);
        err.status = res.status;
        if (res.status === 401 && path !== "/agent/login") {
          err.auth = true;
          authLost();
        } else if (res.status === 403) {
          err.message = "没有权限（" + message + "）";
        }
        throw err;
      });
    });
  }

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
    $("me-role").textContent = ROLES[me.role] || str(me.role);
    var sel = $("status-select");
    if (me.status && STATUSES[me.status]) sel.value = me.status;
    document.body.dataset.status = sel.value;
    var sup = me.role === "supervisor";
    $("supervisor-tab").hidden = !sup;
    if (!sup && S.tab === "supervisor") showTab("workspace");
    renderLoad();
  }

  function capacity() { return Math.max(1, num(S.me && S.me.capacity, 5)); }

  function renderLoad() {
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
      toast("状态已切换为“" + STATUSES[value] + "”");
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

  // ------------------------------------------------------------------ queue (left column)
  function loadQueue() {
    return api("GET", "/agent/queue").then(function (list) { setQueue(list); }).catch(function () { /* 403 etc. */ });
  }

  function setQueue(list) {
    S.queue = arr(list).filter(function (c) { return c && c.id !== undefined && c.id !== null; });
    S.queueAt = Date.now();
    renderQueue();
  }

  function waitedSince(item, receivedAt) {
    return num(item.wait_seconds, 0) + (Date.now() - receivedAt) / 1000;
  }

  function renderQueue() {
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

  function tickQueue() {
    var items = $("queue").querySelectorAll(".queue-item");
    for (var i = 0; i < items.length && i < S.queue.length; i++) {
      var w = items[i].querySelector(".qi-wait");
      var secs = waitedSince(S.queue[i], S.queueAt);
      if (w) w.textContent = duration(secs);
      items[i].classList.toggle("long", secs >= 120);
    }
  }

  function pullChat(c, btn) {
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

  // ------------------------------------------------------------------ chats: load / merge
  var resyncSeq = 0;
  function resync() {
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

  function addChat(chat, fresh) {
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

  function updateChat(v, chat) {
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

  function removeCard(id, silent, why) {
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

  // ------------------------------------------------------------------ chat card
  function buildCard(chat) {
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

  function renderHead(v) {
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

  function renderBadge(v) {
    v.badge.textContent = v.unread > 99 ? "99+" : String(v.unread);
    v.badge.hidden = v.unread <= 0;
    v.card.classList.toggle("has-unread", v.unread > 0);
    if ($("chat-list")) renderList();
  }

  function renderList() {
    var views = Object.keys(S.chats).map(function (id) { return S.chats[id]; });
    renderChatList($("chat-list"), views, S.focused, function (w) { focusChat(w, true); });
    $("chat-list-empty").hidden = views.length > 0;
  }

  /** Show one chat (with its context panel) and put the cursor in its reply box. */
  function focusChat(v, withCursor) {
    markRead(v);
    renderList();
    if (v.tools) v.tools.refresh();
    scrollMessages(v, true);
    if (withCursor) v.input.focus();
  }

  function focusNth(n) {
    var views = ordered(Object.keys(S.chats).map(function (id) { return S.chats[id]; }));
    if (views[n]) focusChat(views[n], true);
  }

  function focusNextUnread() {
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
  function markRead(v) {
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

  // ------------------------------------------------------------------ context panel
  function sparkline(values) {
    var NS = "http://www.w3.org/2000/svg";
    var w = 84, h = 22, n = values.length;
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("width", String(w));
    svg.setAttribute("height", String(h));
    svg.setAttribute("aria-hidden", "true");
    var base = document.createElementNS(NS, "line");
    base.setAttribute("x1", "0"); base.setAttribute("x2", String(w));
    base.setAttribute("y1", String(h - 2 - (h - 4) * 0.5)); base.setAttribute("y2", String(h - 2 - (h - 4) * 0.5));
    base.setAttribute("class", "spark-mid");
    svg.appendChild(base);
    var pts = values.map(function (val, i) {
      var x = n === 1 ? w / 2 : 2 + (w - 4) * i / (n - 1);
      var y = h - 2 - (h - 4) * Math.max(0, Math.min(1, val));
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", "spark-line");
    svg.appendChild(line);
    var last = pts[pts.length - 1].split(",");
    var dot = document.createElementNS(NS, "circle");
    dot.setAttribute("cx", last[0]); dot.setAttribute("cy", last[1]); dot.setAttribute("r", "2.2");
    dot.setAttribute("class", "spark-dot" + (values[n - 1] >= 0.5 ? " hot" : ""));
    svg.appendChild(dot);
    return svg;
  }

  function ctxRow(body, label, content) {
    var row = el("div", "ctx-row");
    row.appendChild(el("div", "ctx-label", label));
    var val = el("div", "ctx-value");
    if (typeof content === "string") val.textContent = content;
    else if (content) val.appendChild(content);
    row.appendChild(val);
    body.appendChild(row);
    return val;
  }

  function renderContext(v) {
    var c = v.chat;
    var ctx = ctxOf(c);
    var care = careOf(c);
    var body = v.ctxBody;
    clear(body);

    // reason / priority / failures
    var reason = el("span", null, reasonName(c.reason || ctx.reason));
    var reasonBox = el("span", "ctx-inline");
    reasonBox.appendChild(reason);
    if (num(ctx.failures, 0) > 0) reasonBox.appendChild(el("span", "muted", "机器人未解决 " + num(ctx.failures, 0) + " 次"));
    if (c.wait_seconds !== undefined && c.wait_seconds !== null) {
      reasonBox.appendChild(el("span", "muted", "排队 " + duration(c.wait_seconds)));
    }
    ctxRow(body, "转人工原因", reasonBox);

    // identity
    var verified = !!ctx.identity_verified;
    ctxRow(body, "身份核验", el("span", verified ? "ok" : "warn", verified ? "✔ 已核验" : "✘ 未核验"));

    // care
    var careBox = el("span", "ctx-inline");
    var flags = careFlags(c);
    flags.forEach(function (f) { careBox.appendChild(el("span", "badge care " + f[0], f[1])); });
    if (care.care_mode) careBox.appendChild(el("span", "chip", "关怀模式"));
    arr(care.signals).forEach(function (s) {
      if (s === "elderly_message") return;
      careBox.appendChild(el("span", "chip soft", SIGNALS[s] || str(s)));
    });
    var trend = arr(care.distress_trend).map(Number).filter(isFinite).slice(-12);
    if (trend.length) {
      var t = el("span", "trend");
      t.title = "情绪指数（0 平稳 – 1 激动）：" + trend.map(function (x) { return x.toFixed(2); }).join(" → ");
      t.appendChild(sparkline(trend));
      var first = trend[0], last = trend[trend.length - 1];
      t.appendChild(el("span", "trend-num" + (last >= 0.5 ? " hot" : ""),
        (trend.length > 1 ? first.toFixed(2) + "→" : "") + last.toFixed(2)));
      careBox.appendChild(t);
    }
    if (!careBox.childNodes.length) careBox.appendChild(el("span", "muted", "无"));
    ctxRow(body, "关怀 / 情绪", careBox);

    // intent history
    var intents = arr(ctx.intents).filter(function (i) { return i && i.intent; });
    var intentBox = el("span", "ctx-inline intents");
    intents.slice(-8).forEach(function (i) {
      var chip = el("span", "chip intent" + (num(i.confidence, 1) < 0.5 ? " low" : ""));
      chip.appendChild(el("span", null, label("intents", i.intent)));
      chip.dataset.intent = str(i.intent);
      if (i.confidence !== undefined && i.confidence !== null) chip.appendChild(el("span", "conf", pct(i.confidence)));
      if (i.category) chip.title = "类别：" + str(i.category);
      intentBox.appendChild(chip);
    });
    if (!intents.length) intentBox.appendChild(el("span", "muted", "无"));
    ctxRow(body, "意图历史", intentBox);

    // guides
    var guides = arr(ctx.guides_shown);
    var guideBox = el("span", "ctx-inline");
    guides.forEach(function (g) {
      var chip = el("span", "chip guide");
      chip.appendChild(el("span", "guide-icon", "📘 "));
      chip.appendChild(el("span", null, S.guideTitles[str(g)] || str(g)));
      chip.title = str(g);
      guideBox.appendChild(chip);
    });
    if (!guides.length) guideBox.appendChild(el("span", "muted", "无"));
    ctxRow(body, "已展示指引", guideBox);

    // entities
    var ents = arr(ctx.entities);
    if (ents.length) {
      var entBox = el("span", "ctx-inline");
      var seen = {};
      ents.forEach(function (e) {
        var text = e && typeof e === "object" ? str(e.entity || e.type || e.name) + "：" + str(e.value !== undefined ? e.value : e.text) : str(e);
        if (seen[text]) return;
        seen[text] = true;
        entBox.appendChild(el("span", "chip soft", text));
      });
      ctxRow(body, "实体", entBox);
    }

    // channel / language / customer id
    var misc = [];
    if (ctx.channel) misc.push("渠道 " + (CHANNELS[ctx.channel] || str(ctx.channel)));
    if (ctx.language) misc.push("语言 " + (ctx.language === "en" ? "英文" : ctx.language === "zh" ? "中文" : str(ctx.language)));
    var cid = ctx.customer_id || c.sender_id;
    if (cid) misc.push("客户号 " + str(cid));
    if (misc.length) ctxRow(body, "其他", misc.join(" · "));

    var note = str(c.note || ctx.note || ctx.transfer_note);
    if (note) ctxRow(body, "转接备注", el("span", "note", note));

    // one-line summary shown when collapsed
    var summary = [reasonName(c.reason || ctx.reason), verified ? "已核验" : "未核验"];
    flags.forEach(function (f) { summary.push(f[1]); });
    if (intents.length) summary.push(label("intents", intents[intents.length - 1].intent));
    v.ctxSummary.textContent = summary.join(" · ");

    intents.forEach(function (i) { v.intentsSeen[str(i.intent)] = true; });
  }

  // ------------------------------------------------------------------ messages
  function scrollMessages(v, force) {
    var list = v.list;
    if (force) v.stick = true;
    if (v.stick) window.requestAnimationFrame(function () { toBottom(v); });
  }

  /** Scroll to the newest message; remembers the position so its scroll event is not taken for the user's. */
  function toBottom(v) {
    v.list.scrollTop = v.list.scrollHeight;
    v.autoTop = v.list.scrollTop;
  }

  function customLine(custom) {
    if (!custom || typeof custom !== "object") return null;
    switch (custom.type) {
      case "guide": return str(custom.title) || S.guideTitles[str(custom.guide_id)] || str(custom.guide_id);
      case "guide_step":
        return (str(custom.title) || S.guideTitles[str(custom.guide_id)] || str(custom.guide_id)) +
          (custom.n !== undefined ? "（第 " + str(custom.n) + (custom.of !== undefined ? "/" + str(custom.of) : "") + " 步）" : "");
      case "survey": return "〔满意度评价卡片〕";
      case "handoff": return "〔转人工，排队中〕";
      case "queue": return null;
      case "care_mode": return "〔已切换关怀模式〕";
      case "otp": return "〔请客户输入验证码〕";
      case "ticket": return "〔工单" + (custom.ticket_id ? " T" + str(custom.ticket_id) : "") + (custom.status === "done" ? " 已完成" : "") + "〕";
      case "agent_joined": return "〔坐席已接入〕";
      default: return null;
    }
  }

  function systemNote(v, text) {
    var empty = v.list.querySelector(".msg.system:only-child");
    if (empty) v.list.removeChild(empty);
    v.list.appendChild(el("div", "msg system", text));
    scrollMessages(v, true);
  }

  function messageNode(v, m) {
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

  function setIntentLabel(node, intent, confidence, corrected) {
    clear(node);
    if (!intent) return;
    node.appendChild(el("span", null, label("intents", intent)));
    node.title = str(intent);
    if (!corrected && confidence !== undefined && confidence !== null) node.appendChild(el("span", "conf", pct(confidence)));
    if (corrected) node.appendChild(el("span", "fixed", "✔ 已更正"));
    node.classList.toggle("low", !corrected && num(confidence, 1) < 0.5);
  }

  function renderMessages(v) {
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

  function appendMessage(v, m, local) {
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
  function knownIntents(v) {
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

  function openLabel(v, m, row, labelNode) {
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

  // ------------------------------------------------------------------ composer + quick phrases
  function buildComposer(v) {
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

    input.addEventListener("input", function () { onComposerInput(v); });
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
  function slashToken(input) {
    var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
    var before = input.value.slice(0, caret);
    var m = /(^|\s)(\/[^\s\/]{0,32})$/.exec(before);
    if (!m) return null;
    return { token: m[2], start: caret - m[2].length, end: caret };
  }

  var phraseSeq = 0;
  function onComposerInput(v) {
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

  function loadPhrases(q) {
    return api("GET", "/agent/phrases?q=" + encodeURIComponent(q || "")).then(function (list) {
      list = arr(list).filter(function (p) { return p && p.code && typeof p.text === "string"; });
      list.forEach(function (p) { S.phrases[normCode(p.code)] = p; });
      return list;
    }).catch(function () { return []; });
  }

  function showMenu(v, list) {
    var menu = v.menu;
    clear(menu);
    v.menuItems = list.slice(0, 12);
    v.menuIndex = v.menuItems.length ? 0 : -1;
    if (!v.menuItems.length) {
      menu.appendChild(el("li", "phrase-none", "没有匹配的短语"));
    }
    v.menuItems.forEach(function (p, i) {
      var li = el("li", "phrase-item");
      li.setAttribute("role", "option");
      li.dataset.code = normCode(p.code);
      li.appendChild(el("span", "phrase-code", normCode(p.code)));
      li.appendChild(el("span", "phrase-text", fill(p.text, v.chat)));
      li.appendChild(el("span", "phrase-tag" + (p.shared ? " shared" : ""), p.shared ? "共享" : "个人"));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });
      li.addEventListener("click", function () { pickPhrase(v, p); });
      li.addEventListener("mouseenter", function () { v.menuIndex = i; paintMenu(v); });
      menu.appendChild(li);
    });
    menu.hidden = false;
    paintMenu(v);
  }

  function paintMenu(v) {
    var items = v.menu.querySelectorAll(".phrase-item");
    for (var i = 0; i < items.length; i++) {
      items[i].classList.toggle("active", i === v.menuIndex);
      items[i].setAttribute("aria-selected", i === v.menuIndex ? "true" : "false");
      if (i === v.menuIndex) items[i].scrollIntoView({ block: "nearest" });
    }
  }

  function hideMenu(v) {
    v.menu.hidden = true;
    v.menuItems = [];
    v.menuIndex = -1;
  }

  function pickPhrase(v, p) {
    var tok = slashToken(v.input);
    var caret = v.input.selectionStart === null ? v.input.value.length : v.input.selectionStart;
    if (tok) expand(v, tok.start, tok.end, p);
    else expand(v, caret, caret, p);
    hideMenu(v);
  }

  function expand(v, start, end, p) {
    var input = v.input;
    var text = fill(p.text, v.chat);
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    var pos = start + text.length;
    input.focus();
    input.setSelectionRange(pos, pos);
  }

  function sendReply(v) {
    var input = v.input;
    var text = fill(input.value, v.chat).trim();
    if (!text) return;
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

  // ------------------------------------------------------------------ suggestions
  function refreshSuggestions(v) {
    var seq = v.suggSeq = (v.suggSeq || 0) + 1;
    api("GET", "/agent/chats/" + encodeURIComponent(v.id) + "/suggestions").then(function (list) {
      if (seq !== v.suggSeq || !S.chats[v.id]) return;
      renderSuggestions(v, arr(list).filter(function (s) { return s && s.guide_id; }));
    }).catch(function () { /* optional */ });
  }

  function renderSuggestions(v, list) {
    clear(v.suggList);
    list.slice(0, 5).forEach(function (s) {
      var item = el("div", "suggestion");
      item.dataset.guideId = str(s.guide_id);
      var t = el("span", "sugg-title", s.title || S.guideTitles[str(s.guide_id)] || s.guide_id);
      t.title = str(s.guide_id);
      item.appendChild(t);
      if (num(s.score, 0) >= 0.01) item.appendChild(el("span", "sugg-score", pct(s.score)));
      var b = button("send-guide tiny", "发送图文");
      b.addEventListener("click", function () { sendGuide(v, s, b); });
      item.appendChild(b);
      v.suggList.appendChild(item);
    });
    v.sugg.hidden = !list.length;
  }

  function sendGuide(v, s, btn) {
    btn.disabled = true;
    api("POST", "/agent/chats/" + encodeURIComponent(v.id) + "/guide", { guide_id: str(s.guide_id) }).then(function (data) {
      var title = s.title || S.guideTitles[str(s.guide_id)] || s.guide_id;
      var m = { from: "agent", ts: Date.now() / 1000, agent: S.me && S.me.name,
                custom: { type: "guide", guide_id: s.guide_id, title: title } };
      var hasId = data && data.event_id !== undefined && data.event_id !== null;
      if (hasId) m.event_id = data.event_id;
      appendMessage(v, m, !hasId);
      var shown = arr(ctxOf(v.chat).guides_shown);
      if (shown.indexOf(str(s.guide_id)) === -1) {
        v.chat.context = Object.assign({}, ctxOf(v.chat), { guides_shown: shown.concat([str(s.guide_id)]) });
        renderContext(v);
      }
      btn.textContent = "已发送";
    }).catch(fail("发送图文失败")).catch(function () { btn.disabled = false; });
  }

  // ------------------------------------------------------------------ action panels
  function field(label, control) {
    var f = el("label", "pfield");
    f.appendChild(el("span", "pfield-label", label));
    f.appendChild(control);
    return f;
  }

  function closePanel(v) {
    clear(v.panelBox);
    v.panelBox.classList.remove("open");
    v.panel = null;
  }

  function localDateTime(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function openPanel(v, kind) {
    if (v.panel === kind) { closePanel(v); return; }
    closePanel(v);
    v.panel = kind;
    var p = el("form", "action-panel panel-" + kind);
    p.noValidate = true;
    var titles = {
      transfer: "转接会话 Transfer", "return": "转回机器人 Return to bot", close: "结束会话 Close",
      ticket: "创建跟进工单 Follow-up ticket", phrase: "保存为快捷短语 Save phrase"
    };
    p.appendChild(el("div", "panel-title", titles[kind]));
    var submitText = "确定";
    var collect;

    if (kind === "transfer") {
      var mode = el("select", "transfer-mode");
      mode.appendChild(option("skill", "转给技能组"));
      mode.appendChild(option("agent", "转给指定坐席"));
      var skill = el("select", "transfer-skill");
      Object.keys(SKILLS).forEach(function (k) { skill.appendChild(option(k, SKILLS[k] + " · " + k, k === v.chat.skill)); });
      var agentSel = el("select", "transfer-agent");
      agentSel.appendChild(option("", "正在读取同事…"));
      api("GET", "/agent/agents").then(function (list) {
        clear(agentSel);
        arr(list).forEach(function (a) {
          if (S.me && str(a.id) === str(S.me.id)) return;
          var free = a.status === "online" && num(a.load, 0) < num(a.capacity, 5);
          var o = option(a.id, str(a.name || a.username) + " · " + label("statuses", a.status) + " · 接待 " +
            num(a.load, 0) + "/" + num(a.capacity, 5));
          if (!free) o.disabled = true;
          agentSel.appendChild(o);
        });
        if (!agentSel.options.length) agentSel.appendChild(option("", "暂无可转接的同事"));
      }).catch(function () { /* shown by api */ });
      var skillField = field("技能组", skill);
      var agentField = field("同事", agentSel);
      agentField.hidden = true;
      mode.addEventListener("change", function () {
        skillField.hidden = mode.value !== "skill";
        agentField.hidden = mode.value !== "agent";
      });
      var note = el("textarea", "transfer-note");
      note.rows = 2;
      note.maxLength = 500;
      note.placeholder = "给接手坐席的备注（选填）";
      p.appendChild(field("转接方式", mode));
      p.appendChild(skillField);
      p.appendChild(agentField);
      p.appendChild(field("备注", note));
      submitText = "确认转接";
      collect = function () {
        var body = { note: note.value.trim() };
        if (mode.value === "agent") {
          var id = parseInt(agentSel.value, 10);
          if (!isFinite(id) || id <= 0) { agentSel.focus(); toast("请选择要转接的同事", "error"); return null; }
          body.to_agent = id;
        } else {
          body.to_skill = skill.value;
        }
        return ["transfer", body, "已转接"];
      };
    } else if (kind === "return") {
      p.appendChild(el("div", "panel-text", "会话将交回智能助手，客户会收到满意度评价。"));
      submitText = "确认转回";
      collect = function () { return ["return", undefined, "已转回机器人"]; };
    } else if (kind === "close") {
      var disp = el("select", "close-disposition");
      DISPOSITIONS.forEach(function (d) { disp.appendChild(option(d[0], d[1] + " · " + d[0])); });
      p.appendChild(field("处理结果", disp));
      p.appendChild(el("div", "panel-text", "结束后客户会收到满意度评价。"));
      submitText = "确认结束";
      collect = function () { return ["close", { disposition: disp.value }, "会话已结束"]; };
    } else if (kind === "ticket") {
      var tk = el("select", "ticket-kind");
      TICKET_KINDS.forEach(function (k) { tk.appendChild(option(k[0], k[1] + " · " + k[0])); });
      var due = el("input", "ticket-due");
      due.type = "datetime-local";
      var d = new Date(Date.now() + 2 * 3600 * 1000);
      d.setMinutes(d.getMinutes() < 30 ? 30 : 60, 0, 0);
      due.value = localDateTime(d);
      var tnote = el("textarea", "ticket-note");
      tnote.rows = 2;
      tnote.maxLength = 1000;
      tnote.placeholder = "需要跟进的事项";
      p.appendChild(field("类型", tk));
      p.appendChild(field("截止时间", due));
      p.appendChild(field("备注", tnote));
      submitText = "创建工单";
      collect = function () {
        var t = due.value ? new Date(due.value).getTime() : NaN;
        if (!isFinite(t)) { due.focus(); toast("请选择截止时间", "error"); return null; }
        if (t < Date.now() - 60000) { due.focus(); toast("截止时间不能早于现在", "error"); return null; }
        return ["ticket", { kind: tk.value, due_at: Math.round(t / 1000), note: tnote.value.trim() }, "工单已创建"];
      };
    } else if (kind === "phrase") {
      var code = el("input", "phrase-code-input");
      code.type = "text";
      code.maxLength = 32;
      code.placeholder = "/greet";
      code.value = "/";
      var ptext = el("textarea", "phrase-text-input");
      ptext.rows = 3;
      ptext.maxLength = 2000;
      ptext.value = v.input.value;
      ptext.placeholder = "短语内容，可用 {customer_name} {agent_name}";
      p.appendChild(field("短语代码", code));
      p.appendChild(field("内容", ptext));
      var shared = null;
      if (S.me && S.me.role === "supervisor") {
        shared = el("input", "phrase-shared");
        shared.type = "checkbox";
        var sl = el("label", "pcheck");
        sl.appendChild(shared);
        sl.appendChild(el("span", null, "共享给全组"));
        p.appendChild(sl);
      }
      submitText = "保存";
      collect = function () {
        var c = normCode(code.value.trim());
        if (!/^\/[^\s\/]{1,31}$/.test(c)) { code.focus(); toast("短语代码形如 /greet（不含空格）", "error"); return null; }
        if (!ptext.value.trim()) { ptext.focus(); toast("请输入短语内容", "error"); return null; }
        return ["phrase", { code: c, text: ptext.value.trim(), shared: !!(shared && shared.checked) }, "短语已保存"];
      };
    }

    var row = el("div", "panel-buttons");
    var ok = el("button", "btn primary small panel-submit" + (kind === "close" ? " danger-solid" : ""), submitText);
    ok.type = "submit";
    var cancel = button("ghost small panel-cancel", "取消");
    cancel.addEventListener("click", function () { closePanel(v); });
    row.appendChild(cancel);
    row.appendChild(ok);
    p.appendChild(row);
    p.addEventListener("keydown", function (e) { if (e.key === "Escape") closePanel(v); });
    p.addEventListener("submit", function (e) {
      e.preventDefault();
      var spec = collect();
      if (!spec) return;
      ok.disabled = true;
      var path = spec[0] === "phrase" ? "/agent/phrases" : "/agent/chats/" + encodeURIComponent(v.id) + "/" + spec[0];
      api("POST", path, spec[1]).then(function (data) {
        toast(spec[2]);
        closePanel(v);
        if (spec[0] === "phrase") {
          var saved = data && data.code ? data : spec[1];
          S.phrases[normCode(saved.code)] = saved;
        } else if (spec[0] === "transfer" && data && data.id !== undefined && mine(data)) {
          if (S.chats[v.id]) updateChat(S.chats[v.id], data); // routed straight back to me
        } else if (spec[0] !== "ticket") {
          removeCard(v.id, true);
        } else {
          var kindName = spec[1].kind === "callback" ? "回电" : "结果通知";
          systemNote(v, "已创建" + kindName + "工单，截止 " + new Date(spec[1].due_at * 1000).toLocaleString("zh-CN", { hour12: false }));
        }
      }).catch(function (err) {
        ok.disabled = false;
        if (!err.auth) toast("操作失败：" + err.message, "error");
      });
    });
    v.panelBox.appendChild(p);
    v.panelBox.classList.add("open");
    var first = p.querySelector("select, input, textarea, .panel-submit");
    if (first) first.focus();
  }

  // ------------------------------------------------------------------ websocket
  function wsUrl() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + "/agent/ws?token=" + encodeURIComponent(S.token || "");
  }

  function setConn(state) {
    document.body.dataset.conn = state;
    var text = { open: "● 已连接", connecting: "连接中…", retry: "连接断开，正在重连…", closed: "未连接" }[state];
    $("conn").textContent = text || state;
  }

  function connect() {
    if (S.loggedOut || !S.token) return;
    window.clearTimeout(S.wsTimer);
    setConn(S.wsAttempt ? "retry" : "connecting");
    var ws;
    try { ws = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
    S.ws = ws;
    ws.onopen = function () {
      if (S.ws !== ws) return;
      var reconnected = S.wsAttempt > 0 || S.wasOpen;
      S.wsAttempt = 0;
      S.wasOpen = true;
      setConn("open");
      window.clearInterval(S.pingTimer);
      S.pingTimer = window.setInterval(function () {
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
      if (reconnected) { resync(); loadQueue(); }
    };
    ws.onmessage = function (ev) {
      if (S.ws !== ws) return;
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    ws.onclose = function (ev) {
      if (S.ws !== ws) return;
      S.ws = null;
      window.clearInterval(S.pingTimer);
      if (S.loggedOut) { setConn("closed"); return; }
      if (ev && ev.code === 4401) { authLost(); return; }
      setConn("retry");
      // an expired token makes the upgrade fail: /agent/me answers 401 and logs out
      api("GET", "/agent/me").catch(function () { /* handled */ });
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (S.loggedOut) return;
    S.wsAttempt += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(S.wsAttempt - 1, 5)));
    delay = delay * (0.75 + Math.random() * 0.5);
    window.clearTimeout(S.wsTimer);
    S.wsTimer = window.setTimeout(connect, delay);
  }

  function closeSocket() {
    window.clearTimeout(S.wsTimer);
    window.clearInterval(S.pingTimer);
    var ws = S.ws;
    S.ws = null;
    S.wsAttempt = 0;
    S.wasOpen = false;
    if (ws) { try { ws.close(1000, "logout"); } catch (e) { /* ignore */ } }
    setConn("closed");
  }

  function mine(chat) {
    if (!chat) return false;
    if (chat.status && chat.status !== "assigned") return false;
    if (S.me && S.me.id !== undefined && chat.agent_id !== undefined && chat.agent_id !== null) {
      return str(chat.agent_id) === str(S.me.id);
    }
    return true;
  }

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
      case "customer_message": {
        var v = S.chats[str(f.chat_id)];
        if (!v) { resync(); break; }
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

  // ------------------------------------------------------------------ supervisor
  function startOverview() {
    stopOverview();
    loadOverview();
    S.overviewTimer = window.setInterval(loadOverview, OVERVIEW_MS);
  }

  function stopOverview() {
    if (S.overviewTimer) window.clearInterval(S.overviewTimer);
    S.overviewTimer = null;
  }

  function loadOverview() {
    if (document.hidden && S.overviewLoaded) return;
    api("GET", "/supervisor/overview").then(function (data) {
      S.overviewLoaded = true;
      renderOverview(data || {});
    }).catch(function (err) {
      if (err.auth) return;
      $("sv-updated").textContent = "刷新失败：" + err.message;
      if (err.status === 403) stopOverview();
    });
  }

  function renderOverview(data) {
    var w = data.waiting || {};
    $("sv-count").textContent = String(num(w.count, arr(data.queue).length));
    $("sv-p50").textContent = w.p50_seconds === null || w.p50_seconds === undefined ? "–" : duration(w.p50_seconds);
    $("sv-max").textContent = w.max_seconds === null || w.max_seconds === undefined ? "–" : duration(w.max_seconds);
    $("sv-max").classList.toggle("hot", num(w.max_seconds, 0) >= 120);
    var agents = arr(data.agents);
    S.agentsSeen = agents;
    $("sv-online").textContent = agents.filter(function (a) { return a && a.status === "online"; }).length + " / " + agents.length;
    var d = new Date();
    $("sv-updated").textContent = "更新于 " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " · 每 3 秒刷新";

    var qb = $("sv-queue");
    clear(qb);
    arr(data.queue).forEach(function (c) {
      if (!c) return;
      var tr = el("tr", c.priority === "high" ? "high" : "");
      var td = el("td");
      td.appendChild(priorityBadge(c.priority));
      tr.appendChild(td);
      tr.appendChild(el("td", null, c.customer_name || c.sender_id));
      tr.appendChild(el("td", null, skillName(c.skill)));
      tr.appendChild(el("td", null, reasonName(c.reason)));
      var care = el("td");
      care.appendChild(flagBadges(c));
      tr.appendChild(care);
      var wait = el("td", "num" + (num(c.wait_seconds, 0) >= 120 ? " hot" : ""), duration(c.wait_seconds));
      tr.appendChild(wait);
      qb.appendChild(tr);
    });
    if (!qb.childNodes.length) emptyRow(qb, "暂无排队", 6);

    var ab = $("sv-agents");
    clear(ab);
    agents.forEach(function (a) {
      if (!a) return;
      var tr = el("tr");
      var name = el("td");
      name.appendChild(el("div", "strong", a.name || a.username));
      name.appendChild(el("div", "muted small", "#" + str(a.id) + " " + str(a.username)));
      tr.appendChild(name);
      tr.appendChild(el("td", null, ROLES[a.role] || str(a.role)));
      var sk = el("td");
      arr(a.skills).forEach(function (s) { sk.appendChild(el("span", "chip skill", skillName(s))); });
      tr.appendChild(sk);
      var st = el("td");
      var badge = el("span", "agent-status " + (STATUSES[a.status] ? a.status : "unknown"), STATUSES[a.status] || str(a.status));
      st.appendChild(badge);
      tr.appendChild(st);
      var load = num(a.load, 0), cap = Math.max(0, num(a.capacity, 5));
      var lt = el("td", "load-cell");
      lt.appendChild(el("span", "num", load + " / " + cap));
      var bar = el("div", "load-bar mini");
      var fillEl = el("div", "load-fill" + (cap && load >= cap ? " full" : ""));
      fillEl.style.width = (cap ? Math.min(100, Math.round(load / cap * 100)) : 0) + "%";
      bar.appendChild(fillEl);
      lt.appendChild(bar);
      tr.appendChild(lt);
      ab.appendChild(tr);
    });
    if (!ab.childNodes.length) emptyRow(ab, "暂无坐席", 5);
  }

  /** One full-width "nothing here" row in a table body. */
  function emptyRow(tbody, text, cols) {
    var tr = el("tr");
    var td = el("td", "empty-cell", text);
    td.colSpan = cols;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  // ------------------------------------------------------------------ timers + boot
  window.setInterval(function () {
    if (!S.loggedOut) tickQueue();
  }, 1000);
  window.setInterval(function () {
    if (!S.loggedOut) { resync(); if (!S.ws) loadQueue(); }
  }, RESYNC_MS);

  var saved = loadToken();
  if (saved) {
    S.token = saved;
    start(null);
  } else {
    showLogin("");
  }
})();
