// Trainer page: corrections and low-confidence messages to accept/relabel, background retrain + compare,
// hot and fast-growing intents, the weekly dissatisfied-case review. Trainers never go online.
import { button, clear, el, label, str } from "./dom.js";

function table(headers) {
  const t = el("table", "table");
  const h = el("thead");
  const r = el("tr");
  headers.forEach((x) => r.appendChild(el("th", null, x)));
  h.appendChild(r);
  t.appendChild(h);
  const b = el("tbody");
  t.appendChild(b);
  return [t, b];
}

function empty(tbody, cols, text) {
  const tr = el("tr");
  const td = el("td", "empty-cell", text);
  td.colSpan = cols;
  tr.appendChild(td);
  tbody.appendChild(tr);
}

/** Show the trainer section instead of the agent workspace. */
export function startTrainer(api, toast) {
  document.body.dataset.role = "trainer";
  const page = document.getElementById("trainer");
  page.hidden = false;
  ["workspace", "supervisor"].forEach((id) => { document.getElementById(id).hidden = true; });
  document.querySelector(".sidebar").hidden = true;
  if (page.dataset.ready) return;
  page.dataset.ready = "1";
  let intents = [];

  const [corrT, corrB] = table(["客户原话", "模型判断", "坐席更正", "状态", "操作"]);
  const [lowT, lowB] = table(["客户原话", "模型判断", "置信度", "标注"]);
  const [hotT, hotB] = table(["意图", "本周", "上周", "增长"]);
  const [revT, revB] = table(["客户", "评分", "原因", "意图"]);
  const jobs = el("div", "jobs");
  jobs.setAttribute("aria-live", "polite");

  function intentSelect(current, name) {
    const sel = el("select", "intent-select");
    sel.setAttribute("aria-label", name);
    intents.forEach((i) => {
      const o = el("option", null, label("intents", i) + " · " + i);
      o.value = i;
      if (i === current) o.selected = true;
      sel.appendChild(o);
    });
    return sel;
  }

  function loadCorrections() {
    return api("GET", "/trainer/corrections").then((list) => {
      clear(corrB);
      (list || []).forEach((c) => {
        const tr = el("tr", "correction " + c.review);
        tr.dataset.id = c.id;
        tr.appendChild(el("td", null, str(c.text)));
        tr.appendChild(el("td", null, label("intents", c.predicted) + (c.confidence != null ? " (" + Math.round(c.confidence * 100) + "%)" : "")));
        tr.appendChild(el("td", null, label("intents", c.intent)));
        tr.appendChild(el("td", "review", { pending: "待审核", accepted: "已接受", relabeled: "已改标", rejected: "已驳回" }[c.review] || c.review));
        const td = el("td", "actions");
        const ok = button("accept small primary", "接受");
        ok.addEventListener("click", () => api("POST", "/trainer/corrections/" + c.id, { action: "accept" })
          .then(() => { toast("已接受"); loadCorrections(); }));
        const sel = intentSelect(c.intent, "改为意图");
        const re = button("relabel small", "改标");
        re.addEventListener("click", () => api("POST", "/trainer/corrections/" + c.id, { action: "relabel", intent: sel.value })
          .then(() => { toast("已改标"); loadCorrections(); }));
        td.appendChild(ok); td.appendChild(sel); td.appendChild(re);
        tr.appendChild(td);
        corrB.appendChild(tr);
      });
      if (!(list || []).length) empty(corrB, 5, "暂无坐席更正");
    });
  }

  function loadLow() {
    return api("GET", "/trainer/low-confidence").then((list) => {
      clear(lowB);
      (list || []).slice(0, 30).forEach((m) => {
        const tr = el("tr");
        tr.appendChild(el("td", null, str(m.text)));
        tr.appendChild(el("td", null, label("intents", m.intent)));
        tr.appendChild(el("td", null, Math.round(m.confidence * 100) + "%"));
        const td = el("td");
        const sel = intentSelect(m.intent, "标注意图");
        const b = button("label small", "标注");
        b.addEventListener("click", () => api("POST", "/trainer/low-confidence/" + m.event_id, { intent: sel.value })
          .then(() => { toast("已标注"); loadLow(); loadCorrections(); }));
        td.appendChild(sel); td.appendChild(b);
        tr.appendChild(td);
        lowB.appendChild(tr);
      });
      if (!(list || []).length) empty(lowB, 4, "暂无低置信度消息");
    });
  }

  function loadStats() {
    api("GET", "/trainer/intents").then((d) => {
      clear(hotB);
      const rows = (d && d.hot) || [];
      rows.forEach((r) => {
        const tr = el("tr");
        [label("intents", r.intent), r.this_week, r.last_week, (r.growth > 0 ? "+" : "") + r.growth]
          .forEach((x) => tr.appendChild(el("td", null, String(x))));
        hotB.appendChild(tr);
      });
      if (!rows.length) empty(hotB, 4, "本周暂无数据");
    });
    api("GET", "/trainer/review").then((list) => {
      clear(revB);
      (list || []).forEach((r) => {
        const tr = el("tr");
        [str(r.customer_name), String(r.score), str(r.reason || "—"), (r.intents || []).map((i) => label("intents", i)).join("、")]
          .forEach((x) => tr.appendChild(el("td", null, x)));
        revB.appendChild(tr);
      });
      if (!(list || []).length) empty(revB, 4, "本周没有不满意评价");
    });
  }

  let poll = null;
  function loadJobs() {
    return api("GET", "/trainer/jobs").then((list) => {
      clear(jobs);
      (list || []).forEach((j) => {
        const box = el("div", "job " + j.state);
        box.dataset.jobId = j.id;
        box.appendChild(el("div", "job-title", (j.kind === "retrain" ? "重新训练" : "与当前模型对比") + " · " +
          { running: "进行中", done: "已完成", failed: "失败", cancelled: "已取消" }[j.state]));
        const bar = el("progress", "job-progress");
        bar.max = 100;
        bar.value = Math.round(j.progress * 100);
        bar.setAttribute("aria-label", "进度 " + Math.round(j.progress * 100) + "%");
        box.appendChild(bar);
        if (j.log && j.log.length) box.appendChild(el("pre", "job-log", j.log.slice(-3).join("\n")));
        if (j.report && j.report.macro_f1) {
          box.appendChild(el("div", "job-report", "宏平均 F1：" + j.report.macro_f1[0].toFixed(3) + " → " +
            j.report.macro_f1[1].toFixed(3) + (j.report.better ? "（新模型更好）" : "（新模型未提升）")));
        }
        if (j.state === "running") {
          const stop = button("job-cancel small", "停止");
          stop.addEventListener("click", () => api("POST", "/trainer/jobs/" + j.id + "/cancel").then(loadJobs));
          box.appendChild(stop);
        }
        jobs.appendChild(box);
      });
      const running = (list || []).some((j) => j.state === "running");
      window.clearTimeout(poll);
      if (running) poll = window.setTimeout(loadJobs, 2000);
    });
  }

  const retrain = button("retrain primary", "重新训练（含已接受的更正）");
  retrain.addEventListener("click", () => api("POST", "/trainer/jobs", { kind: "retrain" }).then(() => { toast("已开始训练"); loadJobs(); }));
  const compare = button("compare", "与当前模型对比");
  compare.addEventListener("click", () => api("POST", "/trainer/jobs", { kind: "compare" }).then(loadJobs));

  const section = (title, ...nodes) => {
    const s = el("section", "sv-block");
    s.appendChild(el("h2", null, title));
    nodes.forEach((n) => s.appendChild(n));
    page.appendChild(s);
  };
  section("坐席更正", corrT);
  section("低置信度消息", lowT);
  const btns = el("div", "job-buttons");
  btns.appendChild(retrain); btns.appendChild(compare);
  section("模型训练与对比", btns, jobs);
  section("热门意图（本周）", hotT);
  section("本周不满意会话复盘", revT);

  api("GET", "/agent/intents").then((list) => { intents = list || []; })
    .then(() => Promise.all([loadCorrections(), loadLow()])).then(() => { loadStats(); loadJobs(); });
}
