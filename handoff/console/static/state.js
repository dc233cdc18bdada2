// Console state, constants and small helpers shared by the console's modules.
import { el, label, str } from "./dom.js";

// ------------------------------------------------------------------ constants + labels
export const TOKEN_KEY = "bankbot_agent_token";
export const PING_MS = 25000;
export const RESYNC_MS = 60000;
export const OVERVIEW_MS = 3000;

// Display names (statuses, roles, skills, reasons, signals, dispositions, ...) come from GET /agent/labels
// through dom.js's label(); none are copied here.

// ------------------------------------------------------------------ helpers

export function option(value, text, selected) {
  var o = el("option", null, text);
  o.value = str(value);
  if (selected) o.selected = true;
  return o;
}


export function $(id) { return document.getElementById(id); }

export function num(v, dflt) { var n = Number(v); return isFinite(n) ? n : dflt; }

export function pad(n) { return (n < 10 ? "0" : "") + n; }

export function clock(ts) {
  var t = num(ts, 0);
  if (!t) return "";
  var d = new Date(t * 1000);
  return pad(d.getHours()) + ":" + pad(d.getMinutes());
}

export function duration(seconds) {
  var s = Math.max(0, Math.floor(num(seconds, 0)));
  if (s < 60) return s + "秒";
  if (s < 3600) return Math.floor(s / 60) + "分" + pad(s % 60) + "秒";
  return Math.floor(s / 3600) + "时" + pad(Math.floor((s % 3600) / 60)) + "分";
}

export function pct(v) {
  var n = num(v, NaN);
  return isFinite(n) ? Math.round(n * 100) + "%" : "";
}

export function skillName(s) { return s ? label("skills", s) : "—"; }
export function reasonName(r) { return r ? label("reasons", r) : "—"; }

export function ctxOf(chat) { return chat && chat.context && typeof chat.context === "object" ? chat.context : {}; }
/** Care info: inside the context, or at the top level of queue items (queue frames carry no context). */
export function careOf(chat) {
  var c = ctxOf(chat).care;
  if (!(c && typeof c === "object") && chat) c = chat.care;
  return c && typeof c === "object" ? c : {};
}
export function arr(v) { return Array.isArray(v) ? v : []; }

/** Care flags shown as badges: elderly customer, emotional customer. */
export function careFlags(chat) {
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

export function flagBadges(chat) {
  var box = el("span", "flags");
  careFlags(chat).forEach(function (f) { box.appendChild(el("span", "badge care " + f[0], f[1])); });
  return box;
}

export function fill(template, chat) {
  var name = chat && chat.salutation !== undefined ? str(chat.salutation) : str(chat && chat.customer_name);
  var me = str(S.me && (S.me.name || S.me.username));
  return str(template).replace(/\{customer_name\}/g, name).replace(/\{agent_name\}/g, me);
}

export function normCode(code) { return "/" + str(code).replace(/^\/+/, ""); }

// ------------------------------------------------------------------ state
export const S = {
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
export function toast(text, kind) {
  var box = $("toasts");
  var t = el("div", "toast" + (kind ? " " + kind : ""), text);
  box.appendChild(t);
  while (box.childNodes.length > 4) box.removeChild(box.firstChild);
  window.setTimeout(function () { t.classList.add("out"); }, 3600);
  window.setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, 4200);
}

export function fail(prefix) {
  return function (err) {
    if (err && err.auth) return;
    toast(prefix + "：" + (err && err.message ? err.message : "网络错误"), "error");
    throw err;
  };
}
