// The chat list: one row per chat with preview, wait, unread and urgency; sorted by urgency, then wait.
import { clear, el, label, str } from "./dom.js";

/** Seconds the customer has been waiting for an answer (since their last unanswered message). */
export function waitingSeconds(v, now) {
  const msgs = (v.chat.messages || []).concat(v.localMessages || []);
  let lastCustomer = 0;
  let lastAnswer = 0;
  msgs.forEach((m) => {
    const ts = Number(m.ts) || 0;
    if (m.from === "customer") lastCustomer = Math.max(lastCustomer, ts);
    else if (m.from === "agent") lastAnswer = Math.max(lastAnswer, ts);
  });
  return lastCustomer > lastAnswer ? Math.max(0, now - lastCustomer) : 0;
}

function rank(v) {
  const u = v.chat.urgency;
  return u && typeof u.rank === "number" ? u.rank : 4;
}

/** Views ordered as the list shows them. */
export function ordered(views) {
  const now = Date.now() / 1000;
  return views.slice().sort((a, b) => rank(a) - rank(b) || waitingSeconds(b, now) - waitingSeconds(a, now)
    || Number(a.order || 0) - Number(b.order || 0));
}

function fmtWait(s) {
  if (!s) return "";
  if (s < 60) return Math.round(s) + "秒";
  return Math.floor(s / 60) + "分" + Math.round(s % 60) + "秒";
}

/** Draw the list into ``box``; ``onPick(view)`` focuses a chat. */
export function renderChatList(box, views, focusedId, onPick) {
  clear(box);
  const now = Date.now() / 1000;
  ordered(views).forEach((v, i) => {
    const msgs = (v.chat.messages || []).concat(v.localMessages || []).filter((m) => m.from === "customer");
    const last = msgs.length ? msgs[msgs.length - 1] : null;
    const level = (v.chat.urgency && v.chat.urgency.level) || "none";
    const li = el("li", "chat-row urgency-" + level);
    const b = el("button", "chat-row-btn");
    b.type = "button";
    b.dataset.chatId = v.id;
    if (v.id === focusedId) { li.classList.add("current"); b.setAttribute("aria-current", "true"); }
    if (v.unread > 0) li.classList.add("has-unread");
    const top = el("span", "row-top");
    top.appendChild(el("span", "row-key", String(i + 1)));
    top.appendChild(el("span", "row-name", str(v.chat.customer_name)));
    if (level !== "none") top.appendChild(el("span", "badge urgency " + level, label("urgency", level)));
    if (v.unread > 0) top.appendChild(el("span", "row-unread", String(v.unread)));
    b.appendChild(top);
    b.appendChild(el("span", "row-preview", last ? str(last.text).slice(0, 40) : "—"));
    const wait = waitingSeconds(v, now);
    b.appendChild(el("span", "row-wait", wait ? "已等 " + fmtWait(wait) : "已回复"));
    b.addEventListener("click", () => onPick(v));
    li.appendChild(b);
    box.appendChild(li);
  });
}

let audioCtx = null;

/** A short two-tone chime (Web Audio; no sound file) and a counter tests can read. */
export function chime() {
  document.body.dataset.alerts = String(Number(document.body.dataset.alerts || 0) + 1);
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audioCtx = audioCtx || new Ctx();
    [880, 660].forEach((f, i) => {
      const o = audioCtx.createOscillator();
      const g = audioCtx.createGain();
      o.frequency.value = f;
      g.gain.value = 0.08;
      o.connect(g); g.connect(audioCtx.destination);
      const t = audioCtx.currentTime + i * 0.15;
      o.start(t); o.stop(t + 0.12);
    });
  } catch (e) { /* sound is a courtesy */ }
}
