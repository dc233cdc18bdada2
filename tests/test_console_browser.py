"""Issue 14 in real Chromium: one agent serving five chats (chat list, keyboard, background alert, transfer by
name, note + label, ticket done, service-language warning), a supervisor watching and reassigning, a trainer
accepting a correction and starting a retrain, the widget restoring its history after a reload, and axe-core
(vendored under tests/vendor/axe-core, MPL-2.0) finding no serious/critical violations.

Screenshots go to ``test-output/console/``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, BotServer, post_message
from .test_handoff import login

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed; browser tests skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

SHOTS = ROOT / "test-output" / "console"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture()
def srv(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> Iterator[BotServer]:
    s = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "30"}, tmp_path).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture()
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000


def serious_violations(page: Page) -> list[dict]:
    """axe-core run inside the page (the context bypasses CSP so the vendored script can be added)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"],
             "nodes": [(n["target"], n.get("failureSummary", "")[-160:]) for n in v["nodes"]][:12]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def wait_for(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def say(base: str, sender: str, text: str) -> None:
    r = post_message(base, sender, text)
    assert r.status_code == 200, r.text


def console_login(page: Page, base: str, user: str, password: str) -> None:
    page.goto(base + "/console")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-submit")
    expect(page.locator("#app-view")).to_be_visible()


def test_agent_serves_five_chats(srv: BotServer, browser: Browser) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    console_login(page, srv.base, "li.na", "demo-agent-1")
    # display names come from GET /agent/labels (the modules copy none of them)
    expect(page.locator("#status-select option[value=online]")).to_have_text("在线")
    expect(page.locator("#me-role")).to_have_text("坐席")
    page.select_option("#status-select", "online")
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    auth = {"authorization": "Bearer " + page.evaluate("() => sessionStorage.getItem('bankbot_agent_token')")}
    wait_for(lambda: httpx.get(srv.base + "/agent/me", headers=auth).json().get("status") == "online")

    senders = ["c5-" + uuid.uuid4().hex[:8] for _ in range(5)]
    texts = ["人工客服", "我的信用卡账单多少钱，转人工", "人工客服", "帮我转人工，我要办理转账",
             "我被骗了，对方冒充客服让我转账，快帮我转人工"]
    for s, t in zip(senders, texts):
        say(srv.base, s, t)
    rows = page.locator("#chat-list .chat-row")
    expect(rows).to_have_count(5)
    # the fraud victim is on top; the calm requests carry no urgency badge
    expect(rows.first.locator(".badge.urgency.fraud")).to_have_count(1)
    expect(page.locator("#chat-list .badge.urgency.distressed")).to_have_count(0)
    expect(rows.first.locator(".row-preview")).to_contain_text("被骗")
    expect(page.locator(".chat-card.focused")).to_have_count(1)
    expect(page.locator(".chat-card.focused .chat-context")).to_be_visible()
    shot(page, "01_five_chats_list_and_focused_chat")

    # keyboard: 3 shows the third chat, Alt+1 (inside the reply box) the first
    page.locator("#chat-list").click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    third = rows.nth(2).locator(".chat-row-btn").get_attribute("data-chat-id")
    page.keyboard.press("3")
    expect(page.locator(f".chat-card.focused[data-chat-id='{third}']")).to_have_count(1)
    expect(page.locator(".chat-card.focused .reply-input")).to_be_focused()
    page.keyboard.press("Alt+1")
    first = rows.first.locator(".chat-row-btn").get_attribute("data-chat-id")
    expect(page.locator(f".chat-card.focused[data-chat-id='{first}']")).to_have_count(1)
    shot(page, "02_keyboard_switched")

    # a message in a background chat: chime counter, unread count in the list, title
    chats = httpx.get(srv.base + "/agent/chats", headers=auth).json()
    by_id = {str(c["id"]): c for c in chats}
    background = next(c for c in chats if str(c["id"]) != first)
    say(srv.base, background["sender_id"], "你好，还在吗？")
    expect(page.locator("body[data-alerts='1']")).to_have_count(1)
    expect(page.locator(f"#chat-list .chat-row-btn[data-chat-id='{background['id']}'] .row-unread")).to_have_text("1")
    assert page.title().startswith("(")
    shot(page, "03_background_message_alert")
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page.locator(f".chat-card.focused[data-chat-id='{background['id']}']")).to_have_count(1)

    # service-language warning while typing
    card = page.locator(".chat-card.focused")
    card.locator(".reply-input").fill("")
    card.locator(".reply-input").type("年费不能退，这个不可以操作")
    lint = card.locator(".lint-box")
    expect(lint).to_be_visible()
    expect(lint.locator("mark.neg")).to_have_count(2)
    expect(lint).to_contain_text("我们可以")
    shot(page, "04_negative_language_warning")
    card.locator(".reply-input").fill("")

    # "/" opens the quick phrases grouped by scenario, in the order of the labels' phrase groups
    card.locator(".reply-input").type("/")
    menu = card.locator(".phrase-menu")
    expect(menu).to_be_visible()
    expect(menu.locator(".phrase-group").first).to_have_text("问候")
    shown = menu.locator(".phrase-group").all_inner_texts()
    scenarios = ["问候", "安抚", "长者关怀", "防诈/紧急", "投诉处理", "结束语"]
    assert [g for g in shown if g in scenarios] == scenarios, shown
    expect(menu.locator(".phrase-item[data-group=complaint][data-code='/satisfy']")).to_contain_text("您看怎样处理")
    shot(page, "04b_grouped_quick_phrases")
    card.locator(".reply-input").press("Escape")
    card.locator(".reply-input").fill("")

    # a private note and a label
    card.locator(".note-input").fill("客户情绪稳定，已解释年费规则")
    card.locator(".note-add").click()
    expect(card.locator(".note-list .note")).to_contain_text("已解释年费规则")
    card.locator(".tag-select").select_option("fraud_risk")
    card.locator(".tag-add").click()
    expect(card.locator(".chip.tag[data-tag='fraud_risk']")).to_have_count(1)
    shot(page, "05_note_and_label")

    # a ticket with a due time, marked done in the customer panel: the customer is told
    cid = background["id"]
    t = httpx.post(srv.base + f"/agent/chats/{cid}/ticket", json={"kind": "callback", "due_at": time.time() + 7200,
                                                                 "note": "回电说明年费"}, headers=auth).json()
    page.keyboard.press("Escape")
    page.locator(f"#chat-list .chat-row-btn[data-chat-id='{cid}']").click()
    item = card.locator(f".ticket[data-ticket-id='{t['ticket_id']}']")
    expect(item).to_contain_text("到期")
    shot(page, "06_ticket_open")
    item.locator(".ticket-done").click()
    expect(card.locator(f".ticket[data-ticket-id='{t['ticket_id']}']")).to_have_count(0)
    sender = by_id[str(cid)]["sender_id"]
    wait_for(lambda: [e for e in httpx.get(f"{srv.base}/conversations/{sender}/events",
                                           headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
                      if f"T{t['ticket_id']}" in (e.get("text") or "") and "完成" in (e.get("text") or "")])

    # transfer by colleague name (with their status and load)
    other = login(srv.base, "wang.lei")
    assert httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=other).status_code == 200
    wang_id = httpx.get(srv.base + "/agent/me", headers=other).json()["id"]
    card.locator(".btn-transfer").click()
    expect(card.locator(".transfer-skill option[value=consultation]")).to_contain_text("咨询")
    expect(card.locator(".chat-head-meta .chip.reason")).not_to_have_text(re.compile(r"^[a-z_]+$"))
    card.locator(".transfer-mode").select_option("agent")
    option = card.locator(f".transfer-agent option[value='{wang_id}']")
    expect(option).to_contain_text("王磊")
    expect(option).to_contain_text("在线")
    card.locator(".transfer-agent").select_option(str(wang_id))
    shot(page, "07_transfer_by_name")
    card.locator(".panel-submit").click()
    expect(rows).to_have_count(4)
    wait_for(lambda: any(c["id"] == cid for c in httpx.get(srv.base + "/agent/chats", headers=other).json()))

    violations = serious_violations(page)
    assert violations == [], violations
    assert errors == [], errors
    ctx.close()


def test_supervisor_watches_and_reassigns(srv: BotServer, browser: Browser) -> None:
    agent = login(srv.base, "li.na")
    assert httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=agent).status_code == 200
    other = login(srv.base, "wang.lei")
    assert httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=other).status_code == 200
    sender = "sv-" + uuid.uuid4().hex[:8]
    say(srv.base, sender, "人工客服")
    chat = wait_for(lambda: [c for c in httpx.get(srv.base + "/agent/chats", headers=agent).json()
                             + httpx.get(srv.base + "/agent/chats", headers=other).json()
                             if c["sender_id"] == sender])[0]
    owner, target = (agent, other) if chat["agent_id"] == httpx.get(srv.base + "/agent/me", headers=agent).json()[
        "id"] else (other, agent)
    target_id = httpx.get(srv.base + "/agent/me", headers=target).json()["id"]

    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    console_login(page, srv.base, "zhao.min", "demo-super-1")
    page.click("#supervisor-tab")
    row = page.locator(f"#sv-watch tr[data-chat-id='{chat['id']}']")
    expect(row).to_be_visible()
    row.locator(".watch").click()
    live = page.locator(".watch-live")
    expect(live.locator(".watch-msg.customer").first).to_contain_text("人工客服")
    say(srv.base, sender, "我的卡被冻结了")
    expect(live.locator(".watch-msg.customer").last).to_contain_text("冻结")
    r = httpx.post(srv.base + f"/agent/chats/{chat['id']}/messages", json={"text": "您好，马上为您处理"},
                   headers=owner)
    assert r.status_code == 200
    expect(live.locator(".watch-msg.agent").last).to_contain_text("马上为您处理")
    shot(page, "08_supervisor_watching")
    row.locator(".assign-to").select_option(str(target_id))
    row.locator(".assign").click()
    wait_for(lambda: any(c["id"] == chat["id"] for c in httpx.get(srv.base + "/agent/chats", headers=target).json()))
    expect(page.locator(f"#sv-watch tr[data-chat-id='{chat['id']}']")).to_contain_text(
        "王磊" if target is other else "李娜")
    shot(page, "09_supervisor_reassigned")
    assert "token=" not in (page.locator("#sv-report").get_attribute("src") or "")

    # with everyone away a fraud victim waits: the supervisor's queue shows its urgency (no "high priority" tag)
    for auth in (agent, other):
        assert httpx.post(srv.base + "/agent/status", json={"status": "away"}, headers=auth).status_code == 200
    victim = "svq-" + uuid.uuid4().hex[:8]
    say(srv.base, victim, "我被骗了，对方冒充客服让我转账，快帮我转人工")
    queued = page.locator("#sv-queue tr.urgency-fraud")
    expect(queued).to_have_count(1)
    expect(queued.locator(".badge.urgency.fraud")).to_have_text("疑似诈骗/紧急")
    expect(page.locator("#sv-queue")).not_to_contain_text("高优先")
    expect(queued.locator("td").nth(3)).to_have_text("疑似诈骗")  # the handoff reason's display name
    shot(page, "10_supervisor_queue_urgency")
    ctx.close()


def test_trainer_accepts_correction_and_retrains(srv: BotServer, browser: Browser) -> None:
    agent = login(srv.base, "li.na")
    assert httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=agent).status_code == 200
    sender = "tr-" + uuid.uuid4().hex[:8]
    say(srv.base, sender, "人工客服")
    chat = wait_for(lambda: [c for c in httpx.get(srv.base + "/agent/chats", headers=agent).json()
                             if c["sender_id"] == sender])[0]
    event = next(m for m in chat["messages"] if m["from"] == "customer")
    assert httpx.post(srv.base + f"/agent/messages/{event['event_id']}/label?sender={sender}",
                      json={"intent": "request_human"}, headers=agent).status_code == 200

    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    console_login(page, srv.base, "chen.yu", "demo-trainer-1")
    expect(page.locator("#trainer")).to_be_visible()
    expect(page.locator("#status-select")).to_be_hidden()
    row = page.locator("#trainer tr.correction.pending").first
    expect(row).to_contain_text("人工客服")
    expect(row).to_contain_text("转人工")
    shot(page, "10_trainer_corrections")
    row.locator(".accept").click()
    expect(page.locator("#trainer tr.correction.accepted")).to_have_count(1)
    page.locator("#trainer .retrain").click()
    job = page.locator("#trainer .job.running")
    expect(job).to_be_visible()
    expect(job.locator(".job-log")).to_be_visible(timeout=90_000)
    shot(page, "11_trainer_retrain_running")
    violations = serious_violations(page)
    job.locator(".job-cancel").click()
    expect(page.locator("#trainer .job.cancelled")).to_have_count(1)
    assert violations == [], violations
    ctx.close()


def test_widget_history_after_reload_and_accessibility(srv: BotServer, browser: Browser) -> None:
    sender = "w-" + uuid.uuid4().hex[:8]
    ctx = browser.new_context(viewport={"width": 400, "height": 820}, locale="zh-CN", bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{srv.base}/widget?sender={sender}")
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    expect(page.locator(".welcome .btn.payload")).to_have_count(4)
    expect(page.locator("#human")).to_have_text("人工客服")
    shot(page, "12_widget_welcome")
    violations = serious_violations(page)
    assert violations == [], violations

    page.locator(".welcome .btn.payload").first.click()
    expect(page.locator(".guide-card")).to_have_count(1)
    expect(page.locator(".guide-card .deep-link")).to_contain_text("立即办理")
    expect(page.locator(".welcome .btn.payload").first).to_be_disabled()
    page.fill("#input", "我的信用卡账单这个月多少钱")
    page.press("#input", "Enter")
    expect(page.locator(".guide-card")).to_have_count(2)
    before = page.locator(".msg.user").count()

    page.reload()
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    expect(page.locator(".msg.user")).to_have_count(before)
    expect(page.locator(".guide-card")).to_have_count(2)
    expect(page.locator(".history-mark")).to_have_count(1)
    assert page.locator(".buttons button.payload:not([disabled])").count() == 0
    shot(page, "13_widget_history_after_reload")

    # care mode: a step with its text, a big picture and a big "直接带我去" button
    page.fill("#input", "我年纪大了眼睛不好，不会弄，忘记密码了怎么办")
    page.press("#input", "Enter")
    step = page.locator(".guide-step").last
    expect(step).to_be_visible(timeout=30_000)
    expect(page.locator("body.care")).to_have_count(1)
    shot(page, "14_widget_care_mode_step")
    violations = serious_violations(page)
    assert violations == [], violations
    ctx.close()
    assert re.match(r"^w-", sender)
