// Agent tools in the context panel: private notes, labels (tags), the customer panel with open tickets.
import { button, clear, el, label, LABELS, str } from "./dom.js";

function when(ts) {
  if (!ts) return "—";
  const d = new Date(Number(ts) * 1000);
  const p = (n) => (n < 10 ? "0" : "") + n;
  return (d.getMonth() + 1) + "/" + d.getDate() + " " + p(d.getHours()) + ":" + p(d.getMinutes());
}

/** Build the tools section for chat view ``v``; ``api`` is the console's fetch helper, ``toast`` its notice. */
export function mountTools(v, api, toast) {
  const box = el("section", "chat-tools");
  box.setAttribute("aria-label", "坐席工具");
  const base = "/agent/chats/" + encodeURIComponent(v.id);

  // labels
  const tagHead = el("h3", "tools-h", "标签");
  const tagChips = el("div", "tag-chips");
  const tagSel = el("select", "tag-select");
  tagSel.setAttribute("aria-label", "添加标签");
  const tagAdd = button("tag-add small", "加标签");
  function paintTags(list) {
    clear(tagChips);
    (list || []).forEach((t) => {
      const chip = el("span", "chip tag", label("tags", t));
      chip.dataset.tag = t;
      const x = button("tag-remove", "×");
      x.setAttribute("aria-label", "去掉标签 " + label("tags", t));
      x.addEventListener("click", () => api("DELETE", base + "/tags/" + encodeURIComponent(t))
        .then((r) => paintTags(r.tags)).catch(() => toast("去掉标签失败", "error")));
      chip.appendChild(x);
      tagChips.appendChild(chip);
    });
  }
  function fillTagOptions() {
    clear(tagSel);
    Object.keys(LABELS.data.tags || {}).forEach((k) => {
      const o = el("option", null, label("tags", k));
      o.value = k;
      tagSel.appendChild(o);
    });
  }
  tagAdd.addEventListener("click", () => api("POST", base + "/tags", { tag: tagSel.value })
    .then((r) => paintTags(r.tags)).catch(() => toast("添加标签失败", "error")));
  const tagRow = el("div", "tools-row");
  tagRow.appendChild(tagSel);
  tagRow.appendChild(tagAdd);

  // private notes
  const noteHead = el("h3", "tools-h", "内部备注（客户看不到）");
  const noteList = el("ul", "note-list");
  const noteInput = el("textarea", "note-input");
  noteInput.rows = 2;
  noteInput.maxLength = 2000;
  noteInput.setAttribute("aria-label", "内部备注");
  noteInput.placeholder = "仅同事可见";
  const noteAdd = button("note-add small", "保存备注");
  function paintNotes(list) {
    clear(noteList);
    (list || []).forEach((n) => {
      const li = el("li", "note");
      li.appendChild(el("span", "note-meta", str(n.agent) + " · " + when(n.created_at)));
      li.appendChild(el("span", "note-text", str(n.text)));
      noteList.appendChild(li);
    });
  }
  noteAdd.addEventListener("click", () => {
    const text = noteInput.value.trim();
    if (!text) { noteInput.focus(); return; }
    api("POST", base + "/notes", { text }).then(() => { noteInput.value = ""; refresh(); })
      .catch(() => toast("保存备注失败", "error"));
  });

  // customer panel
  const custHead = el("h3", "tools-h", "客户信息");
  const cust = el("div", "customer-panel");
  function paintCustomer(c) {
    clear(cust);
    const dl = el("dl", "cust-dl");
    const row = (k, val) => { dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", null, val)); };
    row("卡号尾号", (c.card_tails || []).join("、") || "—");
    row("身份核验", c.identity_verified ? "已核验" : "未核验");
    row("历史会话", String((c.previous_chats || []).length) + " 次");
    const scores = (c.surveys || []).map((s) => s.score).filter((s) => s !== null && s !== undefined);
    row("满意度", scores.length ? scores.join("、") + " 分" : "—");
    cust.appendChild(dl);
    const tickets = el("ul", "ticket-list");
    tickets.setAttribute("aria-label", "未完成工单");
    (c.open_tickets || []).forEach((t) => {
      const li = el("li", "ticket" + (t.overdue ? " overdue" : ""));
      li.dataset.ticketId = t.id;
      li.appendChild(el("span", "ticket-text", "T" + t.id + " · " + label("ticket_kinds", t.kind) + " · 到期 " +
        when(t.due_at) + (t.note ? " · " + str(t.note) : "")));
      const done = button("ticket-done small", "完成");
      done.title = "工单 T" + t.id + " 已完成，通知客户";
      done.addEventListener("click", () => {
        done.disabled = true;
        api("POST", "/agent/tickets/" + encodeURIComponent(t.id) + "/done").then(() => {
          toast("工单 T" + t.id + " 已完成，已通知客户");
          refresh();
        }).catch(() => { done.disabled = false; toast("操作失败", "error"); });
      });
      li.appendChild(done);
      tickets.appendChild(li);
    });
    if (!(c.open_tickets || []).length) tickets.appendChild(el("li", "empty small", "没有未完成的工单"));
    cust.appendChild(tickets);
  }

  function refresh() {
    fillTagOptions();
    paintTags(v.chat.tags || []);
    return api("GET", base + "/customer").then((c) => { paintCustomer(c || {}); paintNotes((c && c.notes) || []); })
      .catch(() => { /* optional */ });
  }

  [tagHead, tagChips, tagRow, noteHead, noteList, noteInput, noteAdd, custHead, cust].forEach((n) => box.appendChild(n));
  return { node: box, refresh };
}
