// Supervisor tab: the service report for a date range, in the console's language.
// The agent token goes in the Authorization header only; the page is shown through the frame's srcdoc
// (never a URL with the token) and renders under the console's CSP (its stylesheet is report.css).
import { clear, el, LABELS } from "./dom.js";

function isoDay(d) { return d.toISOString().slice(0, 10); }

/** Mount the range form and frame into the report block; ``token()`` gives the current agent token. */
export function mountReport(token) {
  const frame = document.getElementById("sv-report");
  const form = document.getElementById("sv-report-form");
  const from = document.getElementById("sv-report-from");
  const to = document.getElementById("sv-report-to");
  const status = document.getElementById("sv-report-status");
  if (!frame || !form || form.dataset.ready) return { refresh: () => {} };
  form.dataset.ready = "1";
  const today = new Date();
  to.value = isoDay(today);
  from.value = isoDay(new Date(today.getTime() - 6 * 86400000));

  function say(text, kind) {
    clear(status);
    status.className = "sv-report-status" + (kind ? " " + kind : "");
    if (text) status.appendChild(el("span", null, text));
  }

  let seq = 0;
  function refresh() {
    const mine = ++seq;
    const q = new URLSearchParams({ from: from.value, to: to.value, lang: LABELS.lang || "zh" });
    say("正在生成报表…");
    document.body.dataset.report = "loading";
    fetch("/supervisor/report?" + q.toString(), { headers: { Authorization: "Bearer " + (token() || "") } })
      .then((r) => (r.ok ? r.text().then((html) => ({ ok: true, html }))
        : r.json().catch(() => ({})).then((j) => ({ ok: false, message: (j && j.message) || ("HTTP " + r.status) }))))
      .then((res) => {
        if (mine !== seq) return;
        if (res.ok) {
          frame.srcdoc = res.html;
          say("");
          document.body.dataset.report = "ready";
        } else {
          say("报表参数有误：" + res.message, "error");
          document.body.dataset.report = "error";
        }
      })
      .catch(() => { if (mine === seq) { say("报表暂时无法加载，上面的实时数据仍可使用", "error"); document.body.dataset.report = "error"; } });
  }

  // the frame takes the report's height, so the supervisor tab scrolls once (CSSOM, allowed by the CSP)
  frame.addEventListener("load", () => {
    const doc = frame.contentDocument;
    if (doc && doc.documentElement && frame.srcdoc) {
      frame.style.height = Math.max(300, doc.documentElement.scrollHeight + 4) + "px";
    }
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  return { refresh };
}
