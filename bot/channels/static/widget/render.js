// Rendering of messages, cards, the survey, notices and the typing indicators.
import { T } from "./i18n.js";
import { $banner, $input, $messages, append, el, image, isDeepLink, isLink, scrollDown, str, view } from "./dom.js";
import { sendFrame } from "./socket.js";

/** Whether a person serves the chat now; ``sendText`` is the widget's (buttons send through it). */
export const chat = { withAgent: false };
export const hooks = { sendText: function () {} };

// ------------------------------------------------------------------ typing indicator
var typingTimer = null;

export function showTyping() {
  hideTyping();
  var t = el("div", "typing");
  t.setAttribute("aria-hidden", "true");
  for (var i = 0; i < 3; i++) t.appendChild(el("span", null, "●"));
  $messages.appendChild(t);
  scrollDown(true);
  typingTimer = window.setTimeout(hideTyping, 15000);
}

export function hideTyping() {
  if (typingTimer) window.clearTimeout(typingTimer);
  typingTimer = null;
  var t = $messages.querySelector(".typing");
  if (t) t.parentNode.removeChild(t);
}

// the agent is typing: shown only on the server's agent_typing notices (a person's typing is never guessed)
var agentTypingTimer = null;

export function showAgentTyping(name) {
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

export function hideAgentTyping() {
  if (agentTypingTimer) window.clearTimeout(agentTypingTimer);
  agentTypingTimer = null;
  var note = $messages.querySelector(".agent-typing");
  if (note) note.parentNode.removeChild(note);
}

// ------------------------------------------------------------------ care mode
export function setCare(on) {
  document.body.classList.toggle("care", !!on);
  scrollDown(false);
}

// ------------------------------------------------------------------ queue banner
export function showQueue(position, etaSeconds) {
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

export function hideQueue() {
  $banner.hidden = true;
  $banner.textContent = "";
}

// ------------------------------------------------------------------ rendering
export function systemNote(text, isError) {
  var node = el("div", "msg system" + (isError ? " error" : ""), text);
  node.setAttribute("role", isError ? "alert" : "status");
  return append(node);
}

export function renderUser(text, pending) {
  var row = el("div", "msg user" + (pending ? " pending" : ""));
  row.appendChild(el("div", "bubble", text));
  append(row);
  scrollDown(true);
  return row;
}

export function linkButton(title, href, extraClass) {
  var a = el("a", "btn link" + (extraClass ? " " + extraClass : ""), title || href);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  if (isDeepLink(href)) a.classList.add("deep-link");
  return a;
}

export function renderButtons(buttons, skip) {
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
    btn.addEventListener("click", function () { hooks.sendText(payload, title); });
    box.appendChild(btn);
  });
  return box.childNodes.length ? box : null;
}

export function guideCard(c) {
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

export function guideStep(c, fallbackImage) {
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

export function surveyCard(c, messageText) {
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
      human.addEventListener("click", function () { hooks.sendText(T.humanAsk); });
      var cb = el("button", "btn offer-callback", T.callback);
      cb.type = "button";
      cb.addEventListener("click", function () { hooks.sendText(T.callbackAsk, T.callback); });
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
export function renderMessage(m, kind, agentName) {
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
      chat.withAgent = false;
      showQueue(custom.queue_position, custom.eta_seconds);
    } else if (st === "assigned" || st === "transferred") {
      chat.withAgent = true;
      hideQueue();
    } else {
      chat.withAgent = false; // returned, closed, no_agents
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

  if (type === "survey" && chat.withAgent) { chat.withAgent = false; systemNote(T.agentLeft, false); }
  if (type === "agent_left" || type === "handoff_ended") { chat.withAgent = false; }
  if (kind === "agent") chat.withAgent = true;
  var buttons = renderButtons(m.buttons, skipButtons);
  if (buttons) { row.appendChild(buttons); hasContent = true; }
  view.pinnedStep = type === "guide_step" ? row : null;
  if (hasContent) append(row);
}


/** Buttons of earlier messages no longer apply once the conversation moved on. */
export function disableStale() {
  $messages.querySelectorAll(".buttons button.payload, .welcome button.payload").forEach(function (b) {
    b.disabled = true;
    b.setAttribute("aria-disabled", "true");
    b.classList.add("stale");
  });
}

export function welcome() {
  var row = el("div", "msg bot welcome");
  row.appendChild(el("div", "bubble", T.welcome));
  var box = el("div", "buttons");
  T.popular.forEach(function (q) {
    var b = el("button", "btn payload", q);
    b.type = "button";
    b.addEventListener("click", function () { hooks.sendText(q); });
    box.appendChild(b);
  });
  row.appendChild(box);
  append(row);
}
