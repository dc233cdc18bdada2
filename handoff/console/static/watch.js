// Supervisor: every open chat, watch one live, assign or reassign it to a colleague.
import { button, clear, el, label, str } from "./dom.js";

/** Mount into #sv-watch; frames arrive as "bankbot:frame" events from the console's socket. */
export function mountWatch(api, toast) {
  const host = document.getElementById("sv-watch");
  if (!host || host.dataset.ready) return;
  host.dataset.ready = "1";
  host.hidden = false;
  const table = el("table", "table sv-chats");
  const head = el("thead");
  const hr = el("tr");
  ["紧急度", "客户", "状态", "坐席", "最新消息", "操作"].forEach((h) => hr.appendChild(el("th", null, h)));
  head.appendChild(hr);
  table.appendChild(head);
  const tbody = el("tbody");
  table.appendChild(tbody);
  const live = el("section", "watch-live");
  live.setAttribute("aria-label", "旁听会话");
  live.hidden = true;
  const liveTitle = el("h3", "watch-title");
  const liveList = el("ol", "watch-messages");
  liveList.setAttribute("aria-live", "polite");
  live.appendChild(liveTitle);
  live.appendChild(liveList);
  host.appendChild(table);
  host.appendChild(live);
  let watching = null;
  let agents = [];

  function addMessage(m) {
    const li = el("li", "watch-msg " + str(m.from));
    li.appendChild(el("span", "who", m.from === "customer" ? "客户" : m.from === "agent" ? str(m.agent || "坐席") : "机器人"));
    li.appendChild(el("span", "text", str(m.text)));
    liveList.appendChild(li);
  }

  function watch(c) {
    api("GET", "/supervisor/chats/" + encodeURIComponent(c.id)).then((chat) => {
      watching = String(chat.id);
      live.hidden = false;
      liveTitle.textContent = "正在旁听：" + str(chat.customer_name);
      clear(liveList);
      (chat.messages || []).forEach(addMessage);
    }).catch(() => toast("打开会话失败", "error"));
  }

  function render(list) {
    clear(tbody);
    list.forEach((c) => {
      const tr = el("tr");
      tr.dataset.chatId = c.id;
      const level = (c.urgency && c.urgency.level) || "none";
      tr.appendChild(el("td", null, label("urgency", level)));
      tr.appendChild(el("td", null, str(c.customer_name)));
      tr.appendChild(el("td", null, c.status === "queued" ? "排队中" : "接待中"));
      tr.appendChild(el("td", null, str(c.agent_name || "—")));
      tr.appendChild(el("td", "preview", str(c.preview)));
      const td = el("td", "sv-actions");
      const w = button("watch small", "旁听");
      w.addEventListener("click", () => watch(c));
      const sel = el("select", "assign-to");
      sel.setAttribute("aria-label", "分配给");
      agents.filter((a) => a.id !== c.agent_id).forEach((a) => {
        const o = el("option", null, str(a.name) + " · " + label("statuses", a.status) + " · " + a.load + "/" + a.capacity);
        o.value = a.id;
        o.disabled = a.status === "offline" || a.load >= a.capacity;
        sel.appendChild(o);
      });
      const go = button("assign small", c.status === "queued" ? "分配" : "改派");
      go.addEventListener("click", () => api("POST", "/supervisor/chats/" + encodeURIComponent(c.id) + "/assign",
        { to_agent: Number(sel.value) }).then((chat) => { toast("已分配给 " + (agents.find((a) => String(a.id) === sel.value) || {}).name); refresh(); return chat; })
        .catch(() => { /* shown */ }));
      td.appendChild(w); td.appendChild(sel); td.appendChild(go);
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
    if (!list.length) {
      const tr = el("tr");
      const td = el("td", "empty-cell", "暂无进行中的会话");
      td.colSpan = 6;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }

  function refresh() {
    return api("GET", "/agent/agents").then((a) => { agents = a || []; return api("GET", "/supervisor/chats"); })
      .then((list) => render(list || [])).catch(() => { /* retried */ });
  }

  window.addEventListener("bankbot:frame", (ev) => {
    const f = ev.detail || {};
    if (f.type === "watch_message" && String(f.chat_id) === watching) addMessage(f.message || {});
    if (f.type === "queue") refresh();
  });
  document.getElementById("sv-watch-refresh")?.addEventListener("click", refresh);
  refresh();
  window.setInterval(() => { if (!document.getElementById("supervisor").hidden) refresh(); }, 5000);
}
