// Supervisor tab: live queue and agent tables.
import { clear, el, label, LABELS, str } from "./dom.js";
import { $, arr, duration, flagBadges, num, OVERVIEW_MS, pad, reasonName, S, skillName } from "./state.js";
import { api } from "./api.js";

export function startOverview() {
  stopOverview();
  loadOverview();
  S.overviewTimer = window.setInterval(loadOverview, OVERVIEW_MS);
}

export function stopOverview() {
  if (S.overviewTimer) window.clearInterval(S.overviewTimer);
  S.overviewTimer = null;
}

export function loadOverview() {
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

export function renderOverview(data) {
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
  // the same urgency as the agents' queue (fraud/emergency > distressed > elderly > waiting long), most urgent first
  var rankOf = function (c) { return c.urgency && typeof c.urgency.rank === "number" ? c.urgency.rank : 4; };
  arr(data.queue).filter(Boolean).sort(function (a, b) {
    return rankOf(a) - rankOf(b) || num(b.wait_seconds, 0) - num(a.wait_seconds, 0);
  }).forEach(function (c) {
    var level = (c.urgency && c.urgency.level) || "none";
    var tr = el("tr", "urgency-" + level);
    tr.dataset.chatId = str(c.id);
    var td = el("td");
    td.appendChild(el("span", "badge urgency " + level, label("urgency", level)));
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
    tr.appendChild(el("td", null, label("roles", a.role)));
    var sk = el("td");
    arr(a.skills).forEach(function (s) { sk.appendChild(el("span", "chip skill", skillName(s))); });
    tr.appendChild(sk);
    var st = el("td");
    var known = !!(LABELS.data.statuses || {})[a.status];
    var badge = el("span", "agent-status " + (known ? a.status : "unknown"), label("statuses", a.status));
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
export function emptyRow(tbody, text, cols) {
  var tr = el("tr");
  var td = el("td", "empty-cell", text);
  td.colSpan = cols;
  tr.appendChild(td);
  tbody.appendChild(tr);
}
