// The context panel of a chat (handoff reason, identity, care, intents, guides) and guide suggestions.
import { button, clear, el, label, str } from "./dom.js";
import { arr, careFlags, careOf, ctxOf, duration, fail, num, pct, reasonName, S } from "./state.js";
import { api } from "./api.js";
import { appendMessage } from "./chatview.js";

export function sparkline(values) {
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

export function ctxRow(body, label, content) {
  var row = el("div", "ctx-row");
  row.appendChild(el("div", "ctx-label", label));
  var val = el("div", "ctx-value");
  if (typeof content === "string") val.textContent = content;
  else if (content) val.appendChild(content);
  row.appendChild(val);
  body.appendChild(row);
  return val;
}

export function renderContext(v) {
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
    careBox.appendChild(el("span", "chip soft", label("signals", s)));
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
  if (ctx.channel) misc.push("渠道 " + label("channels", ctx.channel));
  if (ctx.language) misc.push("语言 " + label("languages", ctx.language));
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

export function refreshSuggestions(v) {
  var seq = v.suggSeq = (v.suggSeq || 0) + 1;
  api("GET", "/agent/chats/" + encodeURIComponent(v.id) + "/suggestions").then(function (list) {
    if (seq !== v.suggSeq || !S.chats[v.id]) return;
    renderSuggestions(v, arr(list).filter(function (s) { return s && s.guide_id; }));
  }).catch(function () { /* optional */ });
}

export function renderSuggestions(v, list) {
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

export function sendGuide(v, s, btn) {
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
