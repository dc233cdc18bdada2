/*
 * bankbot customer chat widget (plain JS, no build step, no external resources).
 * Protocol: docs/channels.md (websocket channel). Security: message content is only ever put into
 * the page through textContent / attributes on nodes built here, never through innerHTML.
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ language + UI strings
  var STRINGS = {
    zh: {
      title: "示例银行 在线客服",
      subtitle: "智能助手 · 7×24 小时为您服务",
      placeholder: "请输入您的问题",
      send: "发送",
      connecting: "连接中…",
      reconnecting: "连接已断开，正在重新连接…",
      bot: "智能客服",
      agent: "人工客服",
      openApp: "在App中打开",
      openWeb: "网页版办理",
      step: function (n, of) { return "第 " + n + " / " + of + " 步"; },
      queue: function (n, m) { return "您前面还有 " + n + " 位，预计等待 " + m + " 分钟"; },
      queueUnknown: "正在为您转接人工客服，请稍候…",
      queueNext: "马上为您接通人工客服…",
      agentJoined: function (name) { return name + " 已接入，为您服务"; },
      agentTyping: function (name) { return (name || "客服") + " 正在输入…"; },
      agentLeft: "人工客服已结束服务，智能助手继续为您服务",
      welcome: "您好，我是示例银行智能助手。您可以直接输入问题，也可以点下面的常见问题：",
      popular: ["信用卡账单怎么查", "忘记登录密码怎么办", "银行卡丢了怎么挂失", "转账手续费是多少"],
      human: "人工客服",
      humanAsk: "转人工客服",
      callback: "预约电话回访",
      callbackAsk: "请安排客服给我回电话",
      lowScoreOffer: "很抱歉没能帮您解决。您可以马上联系人工客服，或预约电话回访：",
      history: "以上是您之前的对话",
      doFor: function (title) { return "立即办理：" + title; },
      takeMe: "直接带我去",
      surveyQuestion: "请您为本次服务打分",
      surveyLow: "非常不满意",
      surveyHigh: "非常满意",
      surveyReasons: "请告诉我们哪里做得不好（可多选）：",
      surveyComment: "其他意见或建议（选填）",
      surveySubmit: "提交评价",
      surveyThanks: "感谢您的评价！",
      scoreLabel: function (n) { return n + " 分"; },
      otpPlaceholder: function (len) { return "请输入 " + len + " 位验证码"; },
      careOn: "已为您切换到大字模式",
      enlarge: "点击查看大图",
      close: "关闭",
      serverError: "出错了：",
      joiner: "、"
    },
    en: {
      title: "Demo Bank · Customer Service",
      subtitle: "Virtual assistant · available 24/7",
      placeholder: "Type your question",
      send: "Send",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      bot: "Assistant",
      agent: "Agent",
      openApp: "Open in app",
      openWeb: "Open on the web",
      step: function (n, of) { return "Step " + n + " of " + of; },
      queue: function (n, m) {
        return n + (n === 1 ? " person" : " people") + " ahead of you, about " + m + (m === 1 ? " minute" : " minutes");
      },
      queueUnknown: "Connecting you to a person, please wait…",
      queueNext: "You are next, connecting you to a person…",
      agentJoined: function (name) { return name + " has joined the chat"; },
      agentTyping: function (name) { return (name || "The agent") + " is typing…"; },
      agentLeft: "The agent has left the chat; the assistant is here to help again",
      welcome: "Hello, I'm the bank's assistant. Type your question, or pick a popular one:",
      popular: ["How do I check my credit card bill", "I forgot my login password", "I lost my card",
        "What are the transfer fees"],
      human: "Talk to a person",
      humanAsk: "talk to a person",
      callback: "Request a call back",
      callbackAsk: "please call me back",
      lowScoreOffer: "Sorry we didn't solve it. You can talk to a person now or ask for a call back:",
      history: "Your earlier conversation",
      doFor: function (title) { return "Do it now: " + title; },
      takeMe: "Take me there",
      surveyQuestion: "How would you rate this service?",
      surveyLow: "Very poor",
      surveyHigh: "Excellent",
      surveyReasons: "What went wrong? (choose any)",
      surveyComment: "Anything else? (optional)",
      surveySubmit: "Submit",
      surveyThanks: "Thank you for your feedback!",
      scoreLabel: function (n) { return String(n); },
      otpPlaceholder: function (len) { return "Enter the " + len + "-digit code"; },
      careOn: "Large text mode is on",
      enlarge: "Tap to enlarge",
      close: "Close",
      serverError: "Error: ",
      joiner: ", "
    }
  };

  var params = new URLSearchParams(location.search);

  function pickLang() {
    var q = (params.get("lang") || "").toLowerCase();
    if (q === "zh" || q === "en") return q;
    var nav = String(navigator.language || "zh").toLowerCase();
    return nav.indexOf("en") === 0 ? "en" : "zh";
  }

  var LANG = pickLang();
  var T = STRINGS[LANG];

  // ------------------------------------------------------------------ sender id
  var SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;

  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += ("0" + bytes[i].toString(16)).slice(-2);
    return "web-" + s;
  }

  // the bank app vouches for its signed-in customer: <customer_id>.<expires>.<hmac> (docs/channels.md)
  var IDENTITY = params.get("identity") || "";

  function senderId() {
    var idm = /^([A-Za-z0-9_.@:\-]{1,58})\.\d+\.[0-9a-f]+$/.exec(IDENTITY);
    if (idm) return "cust-" + idm[1];
    var fromUrl = params.get("sender");
    if (fromUrl && SENDER_RE.test(fromUrl)) return fromUrl;
    var stored = null;
    try { stored = localStorage.getItem("bankbot_sender"); } catch (e) { /* storage disabled */ }
    if (stored && SENDER_RE.test(stored)) return stored;
    var id = randomId();
    try { localStorage.setItem("bankbot_sender", id); } catch (e) { /* storage disabled */ }
    return id;
  }

  var SENDER = senderId();

  // ------------------------------------------------------------------ safety helpers
  var LINK_RE = /^(bankapp|https?):\/\/\S+$/i;

  function isLink(payload) { return typeof payload === "string" && LINK_RE.test(payload.trim()); }

  function safeImage(url) {
    if (typeof url !== "string") return null;
    url = url.trim();
    if (url.indexOf("data:image/") === 0) return url;
    // same-origin paths only: "/x" but not protocol-relative "//host" or "/\host"
    if (url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\") return url;
    return null;
  }

  function isDeepLink(url) { return typeof url === "string" && /^bankapp:\/\//i.test(url); }

  function str(v) { return v === null || v === undefined ? "" : String(v); }

  /** Build an element; ``text`` always goes through textContent. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
    return node;
  }

  // ------------------------------------------------------------------ DOM
  var $messages = document.getElementById("messages");
  var $input = document.getElementById("input");
  var $send = document.getElementById("send");
  var $status = document.getElementById("status");
  var $banner = document.getElementById("queue-banner");
  var $lightbox = document.getElementById("lightbox");
  var $lightboxImg = document.getElementById("lightbox-img");
  var defaultPlaceholder = T.placeholder;

  document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
  document.title = T.title;
  document.getElementById("title").textContent = T.title;
  document.getElementById("subtitle").textContent = T.subtitle;
  $input.placeholder = T.placeholder;
  $input.setAttribute("aria-label", T.placeholder);
  $send.textContent = T.send;
  $status.textContent = T.connecting;
  $lightbox.setAttribute("aria-label", T.close);

  var stickToBottom = true;
  window.addEventListener("scroll", function () {
    var doc = document.documentElement;
    stickToBottom = window.innerHeight + window.scrollY >= doc.scrollHeight - 80;
  }, { passive: true });

  var pinnedStep = null; // care mode: the newest step card stays in view from its instruction down

  function scrollDown(force) {
    if (!force && !stickToBottom) return;
    window.requestAnimationFrame(function () {
      if (pinnedStep && document.body.classList.contains("care") && pinnedStep === $messages.lastElementChild) {
        pinnedStep.scrollIntoView({ block: "start" });
        return;
      }
      window.scrollTo(0, document.documentElement.scrollHeight);
    });
  }

  function append(node) {
    var typing = $messages.querySelector(".typing, .agent-typing"); // typing notices stay last
    if (typing && node !== typing) $messages.insertBefore(node, typing);
    else $messages.appendChild(node);
    scrollDown(false);
    return node;
  }

  function openLightbox(src, alt) {
    $lightboxImg.src = src;
    $lightboxImg.alt = alt || "";
    $lightbox.hidden = false;
  }

  function closeLightbox() {
    $lightbox.hidden = true;
    $lightboxImg.removeAttribute("src");
  }

  $lightbox.addEventListener("click", closeLightbox);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !$lightbox.hidden) closeLightbox();
  });

  /** A zoomable image (or null when the URL is not allowed). */
  function image(url, className, alt) {
    var src = safeImage(url);
    if (!src) return null;
    var img = el("img", className);
    img.src = src;
    img.alt = str(alt);
    img.title = T.enlarge;
    img.decoding = "async";
    img.addEventListener("click", function () { openLightbox(src, img.alt); });
    img.addEventListener("load", function () { scrollDown(false); });
    return img;
  }

  // ------------------------------------------------------------------ typing indicator
  var typingTimer = null;

  function showTyping() {
    hideTyping();
    var t = el("div", "typing");
    t.setAttribute("aria-hidden", "true");
    for (var i = 0; i < 3; i++) t.appendChild(el("span", null, "●"));
    $messages.appendChild(t);
    scrollDown(true);
    typingTimer = window.setTimeout(hideTyping, 15000);
  }

  function hideTyping() {
    if (typingTimer) window.clearTimeout(typingTimer);
    typingTimer = null;
    var t = $messages.querySelector(".typing");
    if (t) t.parentNode.removeChild(t);
  }

  // the agent is typing: shown only on the server's agent_typing notices (a person's typing is never guessed)
  var agentTypingTimer = null;

  function showAgentTyping(name) {
    var note = $messages.querySelector(".agent-typing");
    if (!note) {
      note = el("div", "agent-typing");
      note.setAttribute("role", "status");
      $messages.appendChild(note);
    }
    note.textContent = T.agentTyping(str(name));
    scrollDown(false);
    if (agentTypingTimer) window.clearTimeout(agentTypingTimer);
    agentTypingTimer = window.setTimeout(hideAgentTyping, 5000);
  }

  function hideAgentTyping() {
    if (agentTypingTimer) window.clearTimeout(agentTypingTimer);
    agentTypingTimer = null;
    var note = $messages.querySelector(".agent-typing");
    if (note) note.parentNode.removeChild(note);
  }

  // ------------------------------------------------------------------ care mode
  function setCare(on) {
    document.body.classList.toggle("care", !!on);
    scrollDown(false);
  }

  // ------------------------------------------------------------------ queue banner
  function showQueue(position, etaSeconds) {
    var n = Number(position);
    var text;
    if (position === null || position === undefined || position === "" || !isFinite(n) || n < 0) {
      text = T.queueUnknown;
    } else if (n === 0) {
      text = T.queueNext;
    } else {
      var eta = Number(etaSeconds);
      var minutes = isFinite(eta) && eta > 0 ? Math.max(1, Math.ceil(eta / 60)) : 1;
      text = T.queue(Math.round(n), minutes);
    }
    $banner.textContent = text;
    $banner.hidden = false;
  }

  function hideQueue() {
    $banner.hidden = true;
    $banner.textContent = "";
  }

  // ------------------------------------------------------------------ rendering
  function systemNote(text, isError) {
    var node = el("div", "msg system" + (isError ? " error" : ""), text);
    node.setAttribute("role", isError ? "alert" : "status");
    return append(node);
  }

  function renderUser(text, pending) {
    var row = el("div", "msg user" + (pending ? " pending" : ""));
    row.appendChild(el("div", "bubble", text));
    append(row);
    scrollDown(true);
    return row;
  }

  function linkButton(title, href, extraClass) {
    var a = el("a", "btn link" + (extraClass ? " " + extraClass : ""), title || href);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    if (isDeepLink(href)) a.classList.add("deep-link");
    return a;
  }

  function renderButtons(buttons, skip) {
    if (!Array.isArray(buttons) || !buttons.length) return null;
    var box = el("div", "buttons");
    buttons.forEach(function (b) {
      if (!b || typeof b !== "object") return;
      var payload = typeof b.payload === "string" ? b.payload.trim() : "";
      var title = str(b.title) || payload;
      if (!payload) return;
      if (skip && skip.indexOf(payload) !== -1) return;
      if (isLink(payload)) {
        box.appendChild(linkButton(title, payload));
        return;
      }
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(payload)) return; // other URL schemes: neither a link nor sent
      var btn = el("button", "btn payload", title);
      btn.type = "button";
      btn.dataset.payload = payload;
      btn.addEventListener("click", function () { sendText(payload, title); });
      box.appendChild(btn);
    });
    return box.childNodes.length ? box : null;
  }

  function guideCard(c) {
    var card = el("div", "card guide-card");
    if (c.guide_id) card.dataset.guideId = str(c.guide_id);
    card.appendChild(el("h3", "card-title", c.title));
    var list = el("ol", "guide-steps");
    (Array.isArray(c.steps) ? c.steps : []).forEach(function (s, i) {
      if (!s || typeof s !== "object") return;
      var li = el("li", "guide-card-step");
      li.appendChild(el("span", "step-num", str(s.n || i + 1)));
      var body = el("div", "step-body");
      body.appendChild(el("div", "step-text", s.text));
      var img = image(s.image, "step-thumb", s.text);
      if (img) body.appendChild(img);
      li.appendChild(body);
      list.appendChild(li);
    });
    card.appendChild(list);
    var actions = el("div", "guide-actions");
    if (isLink(c.deep_link)) {
      actions.appendChild(linkButton(c.title ? T.doFor(str(c.title)) : T.openApp, c.deep_link, "primary deep-link"));
    }
    if (isLink(c.web_link)) {
      var web = el("a", "web-link", T.openWeb);
      web.href = c.web_link;
      web.target = "_blank";
      web.rel = "noopener noreferrer";
      actions.appendChild(web);
    }
    if (actions.childNodes.length) card.appendChild(actions);
    return card;
  }

  function guideStep(c, fallbackImage) {
    var card = el("div", "card guide-step");
    if (c.guide_id) card.dataset.guideId = str(c.guide_id);
    card.dataset.step = str(c.n);
    if (c.title) card.appendChild(el("h3", "card-title", c.title));
    if (c.n !== undefined && c.of !== undefined) card.appendChild(el("div", "step-counter", T.step(c.n, c.of)));
    if (c.text) card.appendChild(el("div", "step-text", c.text));
    var img = image(c.image || fallbackImage, "step-image", c.text);
    if (img) card.appendChild(img);
    if (isLink(c.deep_link)) card.appendChild(linkButton(T.takeMe, c.deep_link, "primary deep-link take-me"));
    return card;
  }

  function surveyCard(c, messageText) {
    var card = el("div", "card survey");
    var threshold = Number(c.ask_reason_at_or_below);
    if (!isFinite(threshold)) threshold = 3;
    var reasons = Array.isArray(c.reasons) ? c.reasons.filter(function (r) { return typeof r === "string"; }) : [];
    var scale = Array.isArray(c.scale) && c.scale.length ? c.scale : [1, 2, 3, 4, 5];
    scale = scale.map(Number).filter(function (n) { return isFinite(n); });
    if (!scale.length) scale = [1, 2, 3, 4, 5];
    // the bot message's own text usually asks the question already
    var question = typeof c.question === "string" && c.question !== messageText ? c.question
      : (messageText ? "" : T.surveyQuestion);
    if (question) card.appendChild(el("div", "survey-question", question));

    var scores = el("div", "survey-scores");
    var chosen = null;
    var done = false;
    var scoreButtons = [];
    var reasonBox = null;

    scale.forEach(function (n) {
      var b = el("button", "survey-score");
      b.type = "button";
      b.dataset.score = String(n);
      b.setAttribute("aria-label", T.scoreLabel(n));
      b.appendChild(el("span", "star", "★"));
      b.appendChild(el("span", "score-label", T.scoreLabel(n)));
      b.addEventListener("click", function () { choose(n); });
      scoreButtons.push(b);
      scores.appendChild(b);
    });
    card.appendChild(scores);
    var hints = el("div", "survey-hints");
    hints.appendChild(el("span", null, T.surveyLow));
    hints.appendChild(el("span", null, T.surveyHigh));
    card.appendChild(hints);

    function paint() {
      scoreButtons.forEach(function (b) {
        var v = Number(b.dataset.score);
        b.classList.toggle("on", chosen !== null && v <= chosen);
        b.classList.toggle("selected", v === chosen);
        b.setAttribute("aria-pressed", v === chosen ? "true" : "false");
      });
    }

    function finish(reason, comment) {
      if (done) return;
      done = true;
      var frame = { type: "survey", score: chosen };
      if (reason) frame.reason = reason;
      if (comment) frame.comment = comment;
      sendFrame(frame);
      scoreButtons.forEach(function (b) { b.disabled = true; });
      if (reasonBox) reasonBox.parentNode.removeChild(reasonBox);
      card.appendChild(el("div", "survey-thanks", T.surveyThanks));
      if (chosen !== null && (chosen <= 2 || /没解决|没有解决|not solved/i.test(str(reason) + str(comment)))) {
        var offer = el("div", "survey-offer");
        offer.appendChild(el("div", null, T.lowScoreOffer));
        var human = el("button", "btn primary offer-human", T.humanAsk);
        human.type = "button";
        human.addEventListener("click", function () { sendText(T.humanAsk); });
        var cb = el("button", "btn offer-callback", T.callback);
        cb.type = "button";
        cb.addEventListener("click", function () { sendText(T.callbackAsk, T.callback); });
        offer.appendChild(human);
        offer.appendChild(cb);
        card.appendChild(offer);
      }
      card.classList.add("done");
      scrollDown(false);
    }

    function choose(n) {
      if (done) return;
      chosen = n;
      paint();
      if (n <= threshold && reasons.length) {
        if (!reasonBox) {
          reasonBox = buildReasons();
          card.appendChild(reasonBox);
        }
        scrollDown(false);
      } else {
        if (reasonBox) { reasonBox.parentNode.removeChild(reasonBox); reasonBox = null; }
        finish(null, null);
      }
    }

    function buildReasons() {
      var box = el("div", "survey-reasons");
      box.appendChild(el("div", "survey-reasons-title", T.surveyReasons));
      reasons.forEach(function (r) {
        var label = el("label", "survey-reason");
        var cb = el("input");
        cb.type = "checkbox";
        cb.value = r;
        label.appendChild(cb);
        label.appendChild(el("span", null, r));
        box.appendChild(label);
      });
      var comment = el("textarea", "survey-comment");
      comment.maxLength = 500;
      comment.placeholder = T.surveyComment;
      comment.setAttribute("aria-label", T.surveyComment);
      box.appendChild(comment);
      var submit = el("button", "btn primary survey-submit", T.surveySubmit);
      submit.type = "button";
      submit.addEventListener("click", function () {
        var picked = [];
        box.querySelectorAll("input[type=checkbox]").forEach(function (cb) { if (cb.checked) picked.push(cb.value); });
        finish(picked.join(T.joiner), comment.value.trim());
      });
      box.appendChild(submit);
      return box;
    }

    return card;
  }

  /** One bot or agent message. */
  function renderMessage(m, kind, agentName) {
    if (!m || typeof m !== "object") return;
    var custom = m.custom && typeof m.custom === "object" ? m.custom : null;
    var type = custom ? custom.type : null;
    var row = el("div", "msg " + (kind === "agent" ? "agent" : "bot"));
    if (kind === "agent") {
      hideQueue();
      row.appendChild(el("div", "sender-name", str(agentName) || T.agent));
    }
    var skipButtons = [];
    var hasContent = false;

    // text (a guide_step's text is shown inside its card)
    if (typeof m.text === "string" && m.text !== "" && !(type === "guide_step" && custom.text)) {
      row.appendChild(el("div", "bubble", m.text));
      hasContent = true;
    }
    // image (a guide_step's image is shown large inside its card)
    if (m.image && type !== "guide_step") {
      var img = image(m.image, "msg-image", m.text);
      if (img) { row.appendChild(img); hasContent = true; }
    }

    if (type === "guide") {
      row.classList.add("wide");
      row.appendChild(guideCard(custom));
      skipButtons = [custom.deep_link, custom.web_link];
      hasContent = true;
    } else if (type === "guide_step") {
      setCare(true);
      row.classList.add("wide");
      row.appendChild(guideStep(custom, m.image));
      hasContent = true;
    } else if (type === "care_mode") {
      var wasCare = document.body.classList.contains("care");
      setCare(custom.on !== false);
      if (custom.on !== false && !wasCare) systemNote(T.careOn, false);
    } else if (type === "handoff") {
      // the notice contract of /work/CONTRACTS.md: one bot message per handoff status change
      var st = custom.status || "queued";
      row.classList.add("handoff-notice", "handoff-" + st);
      if (st === "queued" || st === "requeued" || st === "agent_left" ||
          (st === "transferred" && custom.to_skill && !custom.agent)) {
        withAgent = false;
        showQueue(custom.queue_position, custom.eta_seconds);
      } else if (st === "assigned" || st === "transferred") {
        withAgent = true;
        hideQueue();
      } else {
        withAgent = false; // returned, closed, no_agents
        hideQueue();
      }
    } else if (type === "queue") {
      showQueue(custom.queue_position, custom.eta_seconds);
    } else if (type === "survey") {
      row.classList.add("wide");
      row.appendChild(surveyCard(custom, typeof m.text === "string" ? m.text : ""));
      hasContent = true;
    } else if (type === "otp") {
      var len = Number(custom.length) || 6;
      $input.placeholder = T.otpPlaceholder(len);
      $input.inputMode = "numeric";
      $input.dataset.otp = String(len);
    }

    if (type === "survey" && withAgent) { withAgent = false; systemNote(T.agentLeft, false); }
    if (type === "agent_left" || type === "handoff_ended") { withAgent = false; }
    if (kind === "agent") withAgent = true;
    var buttons = renderButtons(m.buttons, skipButtons);
    if (buttons) { row.appendChild(buttons); hasContent = true; }
    pinnedStep = type === "guide_step" ? row : null;
    if (hasContent) append(row);
  }

  var withAgent = false;

  /** Buttons of earlier messages no longer apply once the conversation moved on. */
  function disableStale() {
    $messages.querySelectorAll(".buttons button.payload, .welcome button.payload").forEach(function (b) {
      b.disabled = true;
      b.setAttribute("aria-disabled", "true");
      b.classList.add("stale");
    });
  }

  function welcome() {
    var row = el("div", "msg bot welcome");
    row.appendChild(el("div", "bubble", T.welcome));
    var box = el("div", "buttons");
    T.popular.forEach(function (q) {
      var b = el("button", "btn payload", q);
      b.type = "button";
      b.addEventListener("click", function () { sendText(q); });
      box.appendChild(b);
    });
    row.appendChild(box);
    append(row);
  }

  /** Re-draw this browser's earlier conversation (the conversation token proves it is ours). */
  function restoreHistory() {
    var token = "";
    try { token = localStorage.getItem("bankbot_token_" + SENDER) || ""; } catch (e) { /* disabled */ }
    if (!token) { welcome(); return Promise.resolve(); }
    return fetch("/conversations/" + encodeURIComponent(SENDER) + "/messages?history=1",
      { headers: { "X-Conversation-Token": token } }).then(function (r) {
      return r.ok ? r.json() : [];
    }).then(function (list) {
      if (!Array.isArray(list) || !list.length) { welcome(); return; }
      list.forEach(function (m) {
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
      scrollDown(true);
    }).catch(function () { welcome(); });
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
    switch (frame.type) {
      case "bot":
        botQueue.push(frame.message);
        if (!pacingTimer) drainBotQueue();
        break;
      case "agent_typing":
        if (withAgent) showAgentTyping(frame.agent);
        break;
      case "agent":
        hideTyping();
        hideAgentTyping();
        withAgent = true;
        renderMessage(frame.message, "agent", frame.agent);
        break;
      case "queue":
        showQueue(frame.queue_position, frame.eta_seconds);
        break;
      case "ack":
        var pending = $messages.querySelector(".msg.user.pending");
        if (pending) {
          pending.classList.remove("pending");
          if (frame.event_id !== undefined) pending.dataset.eventId = str(frame.event_id);
        }
        break;
      case "session":
        // the secret that lets this browser re-open its own conversation later
        if (frame.token) {
          try { localStorage.setItem("bankbot_token_" + SENDER, str(frame.token)); } catch (e) { /* disabled */ }
        }
        break;
      case "error":
        hideTyping();
        systemNote(T.serverError + str(frame.message), true);
        break;
      default:
        break; // pong and anything unknown
    }
  }

  // ------------------------------------------------------------------ websocket with reconnect
  var ws = null;
  var outbox = [];
  var retry = 0;
  var reconnectTimer = null;
  var pingTimer = null;
  var everOpened = false;

  function setConn(state) {
    document.body.dataset.conn = state;
    $status.textContent = state === "open" ? "" : (everOpened ? T.reconnecting : T.connecting);
  }

  function connect() {
    reconnectTimer = null;
    setConn("connecting");
    var token = "";
    try { token = localStorage.getItem("bankbot_token_" + SENDER) || ""; } catch (e) { /* disabled */ }
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
      try { onFrame(frame); } catch (e) { if (window.console) console.error(e); }
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      if (pingTimer) { window.clearInterval(pingTimer); pingTimer = null; }
      scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    setConn("connecting");
    if (reconnectTimer) return;
    var delay = Math.min(15000, 500 * Math.pow(2, retry)) * (0.8 + Math.random() * 0.4);
    retry = Math.min(retry + 1, 10);
    reconnectTimer = window.setTimeout(connect, delay);
  }

  function sendFrame(frame) {
    var data = JSON.stringify(frame);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
    else outbox.push(data);
  }

  // ------------------------------------------------------------------ input
  function sendText(text, shown) {
    text = str(text).trim();
    if (!text) return;
    disableStale();
    renderUser(shown || text, true);
    sendFrame({ type: "message", text: text, metadata: { lang: LANG, client: "web-widget" } });
    if (!withAgent) showTyping(); // a person's typing is not known here: no dots while with an agent
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
    if (!withAgent || !$input.value.trim() || !ws || ws.readyState !== WebSocket.OPEN) return;
    typingSentAt = Date.now();
    ws.send(JSON.stringify({ type: "typing" }));
  }

  function cancelTypingNotice() {
    if (typingTimer2) { window.clearTimeout(typingTimer2); typingTimer2 = null; }
  }

  $input.addEventListener("input", function () {
    if (!withAgent || !$input.value.trim() || $input.dataset.otp) { cancelTypingNotice(); return; }
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
    if (!ws && reconnectTimer) { window.clearTimeout(reconnectTimer); connect(); }
  });

  // exposed for debugging / tests (read-only information, no way to inject markup)
  window.bankbotWidget = { sender: SENDER, lang: LANG };

  var $human = document.getElementById("human");
  if ($human) {
    $human.textContent = T.human;
    $human.addEventListener("click", function () { sendText(T.humanAsk); });
  }

  restoreHistory().then(connect, connect);
})();
