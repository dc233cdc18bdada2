"""Issue 12, crash recovery in the widget (real Chromium, real server killed with SIGKILL and restarted):
every message has a client message id, unacknowledged messages are kept and resent after a reconnect or
a reload with the same id, and the server stores each id once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, BotServer, wait_until

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk); browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")

from playwright.sync_api import Page, expect  # noqa: E402

TIMEOUT_MS = 120_000  # the server restarts inside one wait: generous on a slow machine


@pytest.fixture()
def srv(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> Iterator[BotServer]:
    s = BotServer(trained_model, model_env, tmp_path).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture()
def page() -> Iterator[Page]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_context(locale="zh-CN").new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            yield pg
        finally:
            browser.close()


def users(srv: BotServer, sender: str) -> list[dict]:
    r = httpx.get(f"{srv.base}/conversations/{sender}/events", headers={"authorization": f"Bearer {srv.token}"})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == "user"]


def unacked(page: Page, sender: str) -> list[dict]:
    return list(json.loads(page.evaluate(f"sessionStorage.getItem('bankbot_unacked_{sender}') || '[]'")))


def type_message(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")
    expect(page.locator("#messages .msg.user").last).to_have_text(text)


def test_widget_resends_unacknowledged_messages_once(srv: BotServer, page: Page) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    sender = "wr-" + uuid.uuid4().hex[:10]
    page.goto(f"{srv.base}/widget?sender={sender}")
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    type_message(page, "你好")
    expect(page.locator("#messages .msg.user.pending")).to_have_count(0)
    assert unacked(page, sender) == []
    first = users(srv, sender)
    assert [e["text"] for e in first] == ["你好"] and first[0]["message_id"].startswith("m")

    srv.kill()  # SIGKILL: the widget loses its socket
    expect(page.locator("body[data-conn=open]")).to_have_count(0)
    type_message(page, "怎么查余额")  # sent while the server is down: kept, shown pending
    expect(page.locator("#messages .msg.user.pending")).to_have_count(1)
    kept = unacked(page, sender)
    assert [u["frame"]["text"] for u in kept] == ["怎么查余额"]
    srv.start()  # same port and data: the widget reconnects and resends with the same id
    expect(page.locator("#messages .msg.user.pending")).to_have_count(0)
    stored = users(srv, sender)
    assert [e["text"] for e in stored] == ["你好", "怎么查余额"]
    assert stored[1]["message_id"] == kept[0]["frame"]["message_id"]

    # a reload with two unacknowledged messages kept: one the server already holds (its ack was lost),
    # one it never got. The first is not shown twice nor stored again, the second is shown and sent once.
    lost_ack = {"frame": {"type": "message", "text": "怎么查余额", "message_id": stored[1]["message_id"]},
                "shown": "怎么查余额", "secret": False}
    never = {"frame": {"type": "message", "text": "谢谢", "message_id": "m-never-arrived"}, "shown": "谢谢",
             "secret": False}
    page.evaluate("([k, v]) => sessionStorage.setItem(k, v)",
                  [f"bankbot_unacked_{sender}", json.dumps([lost_ack, never], ensure_ascii=False)])
    page.reload()
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    expect(page.locator("#messages .msg.user.pending")).to_have_count(0)
    expect(page.locator("#messages .msg.user", has_text="怎么查余额")).to_have_count(1)
    expect(page.locator("#messages .msg.user", has_text="谢谢")).to_have_count(1)
    assert [e["text"] for e in users(srv, sender)] == ["你好", "怎么查余额", "谢谢"]
    assert unacked(page, sender) == []
    page.reload()  # nothing left to resend
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    expect(page.locator("#messages .msg.user", has_text="谢谢")).to_have_count(1)
    assert [e["text"] for e in users(srv, sender)] == ["你好", "怎么查余额", "谢谢"]


def bot_texts_after(srv: BotServer, sender: str, after: int) -> list[str]:
    r = httpx.get(f"{srv.base}/conversations/{sender}/events", headers={"authorization": f"Bearer {srv.token}"})
    assert r.status_code == 200, r.text
    return [e["text"] for e in r.json()["events"] if e["id"] > after and e["type"] in ("bot", "agent")
            and e.get("text")]


def test_open_widget_shows_the_reply_recovered_after_a_restart(srv: BotServer, page: Page) -> None:
    """A customer message stored just before a crash is answered by the restarted server while no socket is
    open; the widget, still open, fetches what it missed on reconnect (no reload) and shows it once."""
    from .test_recovery import crash_after_storing

    expect.set_options(timeout=TIMEOUT_MS)
    sender = "wk-" + uuid.uuid4().hex[:10]
    page.goto(f"{srv.base}/widget?sender={sender}")
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    type_message(page, "怎么查余额")
    expect(page.locator("#messages .msg.user.pending")).to_have_count(0)
    first = bot_texts_after(srv, sender, 0)
    assert first
    expect(page.locator("#messages .msg.bot", has_text=first[-1][:20]).last).to_be_visible()

    srv.kill()
    expect(page.locator("body[data-conn=open]")).to_have_count(0)
    unanswered = crash_after_storing(srv, sender)  # the state a crash between storing and replying leaves
    srv.start()  # the recovery answers it before /health answers: no socket is open to push it to
    recovered = bot_texts_after(srv, sender, unanswered)
    assert recovered, "the restart recovery answered the stored message"
    text = recovered[0][:20]
    before = sum(t[:20] == text for t in first)
    expect(page.locator("body[data-conn=open]")).to_have_count(1)
    # shown without a reload, exactly once more than before
    expect(page.locator("#messages .msg", has_text=text)).to_have_count(before + 1)
    # a later turn: the recovered reply is not shown again (pushes carry their event ids)
    type_message(page, "谢谢")
    later = wait_until(lambda: (t := bot_texts_after(srv, sender, unanswered)) and len(t) > len(recovered) and t,
                       what="the reply to the later message")
    expect(page.locator("#messages .msg", has_text=later[-1][:20]).last).to_be_visible()
    expect(page.locator("#messages .msg", has_text=text)).to_have_count(before + 1 + sum(
        t[:20] == text for t in later[len(recovered):]))
