// Action panels of a chat: transfer, return to bot, close, follow-up ticket, save a phrase.
import { button, clear, el, label, LABELS, str } from "./dom.js";
import { arr, normCode, num, option, pad, S, toast } from "./state.js";
import { api } from "./api.js";
import { mine, removeCard, updateChat } from "./chats.js";
import { systemNote } from "./chatview.js";

export function field(label, control) {
  var f = el("label", "pfield");
  f.appendChild(el("span", "pfield-label", label));
  f.appendChild(control);
  return f;
}

export function closePanel(v) {
  clear(v.panelBox);
  v.panelBox.classList.remove("open");
  v.panel = null;
}

export function localDateTime(d) {
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

export function openPanel(v, kind) {
  if (v.panel === kind) { closePanel(v); return; }
  closePanel(v);
  v.panel = kind;
  var p = el("form", "action-panel panel-" + kind);
  p.noValidate = true;
  var titles = {
    transfer: "转接会话 Transfer", "return": "转回机器人 Return to bot", close: "结束会话 Close",
    ticket: "创建跟进工单 Follow-up ticket", phrase: "保存为快捷短语 Save phrase"
  };
  p.appendChild(el("div", "panel-title", titles[kind]));
  var submitText = "确定";
  var collect;

  if (kind === "transfer") {
    var mode = el("select", "transfer-mode");
    mode.appendChild(option("skill", "转给技能组"));
    mode.appendChild(option("agent", "转给指定坐席"));
    var skill = el("select", "transfer-skill");
    Object.keys(LABELS.data.skills || {}).forEach(function (k) { skill.appendChild(option(k, label("skills", k) + " · " + k, k === v.chat.skill)); });
    var agentSel = el("select", "transfer-agent");
    agentSel.appendChild(option("", "正在读取同事…"));
    api("GET", "/agent/agents").then(function (list) {
      clear(agentSel);
      arr(list).forEach(function (a) {
        if (S.me && str(a.id) === str(S.me.id)) return;
        var free = a.status === "online" && num(a.load, 0) < num(a.capacity, 5);
        var o = option(a.id, str(a.name || a.username) + " · " + label("statuses", a.status) + " · 接待 " +
          num(a.load, 0) + "/" + num(a.capacity, 5));
        if (!free) o.disabled = true;
        agentSel.appendChild(o);
      });
      if (!agentSel.options.length) agentSel.appendChild(option("", "暂无可转接的同事"));
    }).catch(function () { /* shown by api */ });
    var skillField = field("技能组", skill);
    var agentField = field("同事", agentSel);
    agentField.hidden = true;
    mode.addEventListener("change", function () {
      skillField.hidden = mode.value !== "skill";
      agentField.hidden = mode.value !== "agent";
    });
    var note = el("textarea", "transfer-note");
    note.rows = 2;
    note.maxLength = 500;
    note.placeholder = "给接手坐席的备注（选填）";
    p.appendChild(field("转接方式", mode));
    p.appendChild(skillField);
    p.appendChild(agentField);
    p.appendChild(field("备注", note));
    submitText = "确认转接";
    collect = function () {
      var body = { note: note.value.trim() };
      if (mode.value === "agent") {
        var id = parseInt(agentSel.value, 10);
        if (!isFinite(id) || id <= 0) { agentSel.focus(); toast("请选择要转接的同事", "error"); return null; }
        body.to_agent = id;
      } else {
        body.to_skill = skill.value;
      }
      return ["transfer", body, "已转接"];
    };
  } else if (kind === "return") {
    p.appendChild(el("div", "panel-text", "会话将交回智能助手，客户会收到满意度评价。"));
    submitText = "确认转回";
    collect = function () { return ["return", undefined, "已转回机器人"]; };
  } else if (kind === "close") {
    var disp = el("select", "close-disposition");
    Object.keys(LABELS.data.dispositions || {}).forEach(function (d) { disp.appendChild(option(d, label("dispositions", d) + " · " + d)); });
    p.appendChild(field("处理结果", disp));
    p.appendChild(el("div", "panel-text", "结束后客户会收到满意度评价。"));
    submitText = "确认结束";
    collect = function () { return ["close", { disposition: disp.value }, "会话已结束"]; };
  } else if (kind === "ticket") {
    var tk = el("select", "ticket-kind");
    Object.keys(LABELS.data.ticket_kinds || {}).forEach(function (k) { tk.appendChild(option(k, label("ticket_kinds", k) + " · " + k)); });
    var due = el("input", "ticket-due");
    due.type = "datetime-local";
    var d = new Date(Date.now() + 2 * 3600 * 1000);
    d.setMinutes(d.getMinutes() < 30 ? 30 : 60, 0, 0);
    due.value = localDateTime(d);
    var tnote = el("textarea", "ticket-note");
    tnote.rows = 2;
    tnote.maxLength = 1000;
    tnote.placeholder = "需要跟进的事项";
    p.appendChild(field("类型", tk));
    p.appendChild(field("截止时间", due));
    p.appendChild(field("备注", tnote));
    submitText = "创建工单";
    collect = function () {
      var t = due.value ? new Date(due.value).getTime() : NaN;
      if (!isFinite(t)) { due.focus(); toast("请选择截止时间", "error"); return null; }
      if (t < Date.now() - 60000) { due.focus(); toast("截止时间不能早于现在", "error"); return null; }
      return ["ticket", { kind: tk.value, due_at: Math.round(t / 1000), note: tnote.value.trim() }, "工单已创建"];
    };
  } else if (kind === "phrase") {
    var code = el("input", "phrase-code-input");
    code.type = "text";
    code.maxLength = 32;
    code.placeholder = "/greet";
    code.value = "/";
    var ptext = el("textarea", "phrase-text-input");
    ptext.rows = 3;
    ptext.maxLength = 2000;
    ptext.value = v.input.value;
    ptext.placeholder = "短语内容，可用 {customer_name} {agent_name}";
    p.appendChild(field("短语代码", code));
    p.appendChild(field("内容", ptext));
    var shared = null;
    if (S.me && S.me.role === "supervisor") {
      shared = el("input", "phrase-shared");
      shared.type = "checkbox";
      var sl = el("label", "pcheck");
      sl.appendChild(shared);
      sl.appendChild(el("span", null, "共享给全组"));
      p.appendChild(sl);
    }
    submitText = "保存";
    collect = function () {
      var c = normCode(code.value.trim());
      if (!/^\/[^\s\/]{1,31}$/.test(c)) { code.focus(); toast("短语代码形如 /greet（不含空格）", "error"); return null; }
      if (!ptext.value.trim()) { ptext.focus(); toast("请输入短语内容", "error"); return null; }
      return ["phrase", { code: c, text: ptext.value.trim(), shared: !!(shared && shared.checked) }, "短语已保存"];
    };
  }

  var row = el("div", "panel-buttons");
  var ok = el("button", "btn primary small panel-submit" + (kind === "close" ? " danger-solid" : ""), submitText);
  ok.type = "submit";
  var cancel = button("ghost small panel-cancel", "取消");
  cancel.addEventListener("click", function () { closePanel(v); });
  row.appendChild(cancel);
  row.appendChild(ok);
  p.appendChild(row);
  p.addEventListener("keydown", function (e) { if (e.key === "Escape") closePanel(v); });
  p.addEventListener("submit", function (e) {
    e.preventDefault();
    var spec = collect();
    if (!spec) return;
    ok.disabled = true;
    var path = spec[0] === "phrase" ? "/agent/phrases" : "/agent/chats/" + encodeURIComponent(v.id) + "/" + spec[0];
    api("POST", path, spec[1]).then(function (data) {
      toast(spec[2]);
      closePanel(v);
      if (spec[0] === "phrase") {
        var saved = data && data.code ? data : spec[1];
        S.phrases[normCode(saved.code)] = saved;
      } else if (spec[0] === "transfer" && data && data.id !== undefined && mine(data)) {
        if (S.chats[v.id]) updateChat(S.chats[v.id], data); // routed straight back to me
      } else if (spec[0] !== "ticket") {
        removeCard(v.id, true);
      } else {
        var kindName = label("ticket_kinds", spec[1].kind);
        systemNote(v, "已创建" + kindName + "工单，截止 " + new Date(spec[1].due_at * 1000).toLocaleString("zh-CN", { hour12: false }));
      }
    }).catch(function (err) {
      ok.disabled = false;
      if (!err.auth) toast("操作失败：" + err.message, "error");
    });
  });
  v.panelBox.appendChild(p);
  v.panelBox.classList.add("open");
  var first = p.querySelector("select, input, textarea, .panel-submit");
  if (first) first.focus();
}
