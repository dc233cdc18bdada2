"""Scripted conversations against a real server: REST, websocket, care mode, handoff, restart."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from .conftest import CONVERSATION_TOKENS, BotServer, post_message


def say(base: str, sender: str, text: str, **extra: object) -> list[dict]:
    r = post_message(base, sender, text, **extra)
    assert r.status_code == 200, r.text
    return r.json()


def customs(messages: list[dict], kind: str) -> list[dict]:
    return [m["custom"] for m in messages if m.get("custom", {}).get("type") == kind]


def sid() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def test_acceptance_script_over_rest(bot_server: BotServer) -> None:
    base, sender = bot_server.base, sid()
    greet = say(base, sender, "你好")
    assert greet and all(m["recipient_id"] == sender for m in greet)
    assert "您好" in greet[0]["text"]

    guide = say(base, sender, "怎么修改登录密码")
    cards = customs(guide, "guide")
    assert len(cards) == 1 and cards[0]["guide_id"] == "reset_password" and cards[0]["mode"] == "standard"
    assert len(cards[0]["steps"]) >= 3 and all(s["image"].startswith("/guides/img/zh/") for s in cards[0]["steps"])
    assert cards[0]["deep_link"].startswith("bankapp://")
    links = [b["payload"] for m in guide for b in m.get("buttons", [])]
    assert cards[0]["deep_link"] in links
    image = httpx.get(base + cards[0]["steps"][0]["image"])
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert any("解决" in (m.get("text") or "") for m in guide), "follow-up question after the solution"

    care = say(base, sender, "我年纪大了看不清")
    assert any(m.get("text") and "一步一步" in m["text"] for m in care)

    howto = say(base, sender, "怎么查余额")
    # a how-to gets the guide: the app's own pages authenticate, no code needed
    assert not customs(howto, "otp") and customs(howto, "guide_step")
    step = say(base, sender, "查一下我的余额", metadata={"customer_id": "demo-1001"})
    # the bot itself shows the balance: the one-time passcode first
    assert customs(step, "otp")
    step = say(base, sender, "123456")
    assert any("尾号7890" in (m.get("text") or "") for m in step), "own masked data after the code"
    steps = customs(step, "guide_step")
    assert len(steps) == 1 and steps[0]["n"] == 1 and steps[0]["large"] is True and steps[0]["mode"] == "care"
    assert not customs(step, "guide"), "care mode sends one step per message, never the whole guide"
    nxt = say(base, sender, "/affirm")
    assert customs(nxt, "guide_step")[0]["n"] == 2

    handoff = say(base, sender, "转人工")
    info = customs(handoff, "handoff")
    assert info and info[0]["status"] in ("queued", "no_agents") and info[0]["queue_position"] >= 0

    r = httpx.get(f"{base}/conversations/{sender}/events", headers={"authorization": f"Bearer {bot_server.token}"})
    assert r.status_code == 200
    events = r.json()["events"]
    ho = [e for e in events if e["type"] == "handoff"]
    assert len(ho) == 1
    ctx = ho[0]["context"]
    assert ctx["reason"] == "asked" and ctx["priority"] == "high"
    assert "reset_password" in ctx["guides_shown"]
    assert ctx["care"]["care_mode"] is True and "elderly_message" in ctx["care"]["signals"]
    assert any(t["text"] == "怎么修改登录密码" for t in ctx["transcript"])
    assert ctx["identity_verified"] is True
    listed = httpx.get(base + "/handoffs", headers={"authorization": f"Bearer {bot_server.token}"}).json()
    assert sender in [h["sender_id"] for h in listed["handoffs"]]


def test_websocket_channel(bot_server: BotServer) -> None:
    import websockets

    sender = sid()

    async def run() -> list[dict]:
        frames: list[dict] = []
        async with websockets.connect(f"{bot_server.ws_base}/webhooks/websocket?sender={sender}") as ws:
            await ws.send(json.dumps({"type": "message", "text": "你好"}))
            await ws.send(json.dumps({"type": "message", "text": "怎么修改登录密码"}))
            await ws.send("not json")
            await ws.send(json.dumps({"type": "ping"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                frames.append(frame)
                if frame["type"] == "pong":
                    return frames

    frames = asyncio.run(run())
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "session" and len(frames[0]["token"]) == 32
    assert kinds[1] == "ack" and "error" in kinds
    assert kinds.index("ack") < kinds.index("bot")
    guides = [f for f in frames if f["type"] == "bot" and f["message"].get("custom", {}).get("type") == "guide"]
    assert guides and guides[0]["message"]["custom"]["guide_id"] == "reset_password"


def test_websocket_pushes_turns_from_other_channels(bot_server: BotServer) -> None:
    """A message sent over REST for the same customer is pushed to their open widget."""
    import websockets

    sender = sid()

    async def run() -> dict:
        async with websockets.connect(f"{bot_server.ws_base}/webhooks/websocket?sender={sender}") as ws:
            CONVERSATION_TOKENS[sender] = json.loads(await ws.recv())["token"]  # the session frame
            await asyncio.to_thread(say, bot_server.base, sender, "转人工")
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame["type"] == "bot" and frame["message"].get("custom", {}).get("type") == "handoff":
                    return frame

    # nobody is online in this test server: the customer is told so honestly
    assert asyncio.run(run())["message"]["custom"]["status"] in ("queued", "no_agents")


def test_low_confidence_asks_and_repeated_failure_escalates(bot_server: BotServer) -> None:
    base, sender = bot_server.base, sid()
    first = say(base, sender, "怎么激活新卡")
    assert customs(first, "guide")
    again = say(base, sender, "还是不行")
    assert not customs(again, "handoff")
    assert any(b["payload"] == "/request_human" for m in again for b in m.get("buttons", []))
    say(base, sender, "/activate_card")  # retry, now one step at a time
    for _ in range(6):
        out = say(base, sender, "还是不行")
        if customs(out, "handoff"):
            break
    else:
        pytest.fail("two failed guides must escalate")
    ev = httpx.get(f"{base}/conversations/{sender}/events", headers={"authorization": f"Bearer {bot_server.token}"})
    assert [e["reason"] for e in ev.json()["events"] if e["type"] == "handoff"] == ["repeated_failure"]


def test_request_human_in_english_and_complaint(bot_server: BotServer) -> None:
    out = say(bot_server.base, sid(), "I want to talk to a real person")
    assert customs(out, "handoff")
    out = say(bot_server.base, sid(), "我要投诉你们，服务太差了")
    assert customs(out, "handoff")


def test_survey_after_goodbye(bot_server: BotServer) -> None:
    sender = sid()
    say(bot_server.base, sender, "怎么修改登录密码")
    bye = say(bot_server.base, sender, "好的谢谢，再见")
    surveys = customs(bye, "survey")
    if not surveys:  # "thanks" first: say goodbye explicitly
        surveys = customs(say(bot_server.base, sender, "拜拜"), "survey")
    assert surveys and surveys[0]["scale"] == [1, 2, 3, 4, 5]
    thanks = say(bot_server.base, sender, '/survey{"score": 2, "reason": ["问题没有解决"], "comment": "太慢"}')
    assert thanks and "感谢" in thanks[0]["text"]
    ev = httpx.get(f"{bot_server.base}/conversations/{sender}/events",
                   headers={"authorization": f"Bearer {bot_server.token}"}).json()["events"]
    survey = [e for e in ev if e["type"] == "survey"]
    assert survey and survey[0]["score"] == 2 and survey[0]["reason"] == ["问题没有解决"]
    bad = post_message(bot_server.base, sender, '/survey{"score": 9}')
    assert bad.status_code == 400 and "1 to 5" in bad.json()["message"]


def test_invalid_requests_get_clear_4xx(bot_server: BotServer) -> None:
    url = bot_server.base + "/webhooks/rest/webhook"
    cases = [
        (b"{bad json", "not valid JSON"),
        (b'{"message": "hi"}', "missing field(s): sender"),
        (b'{"sender": "u1"}', "missing field(s): message"),
        (b'{"sender": "../../etc", "message": "hi"}', "'sender' must be"),
        (b'{"sender": "", "message": "hi"}', "'sender' must be"),
        (b'{"sender": 12, "message": "hi"}', "'sender' must be"),
        (b'{"sender": "u1", "message": ""}', "empty"),
        (b'{"sender": "u1", "message": ["hi"]}', "must be a string"),
        (b'{"sender": "u1", "message": "hi", "metadata": "x"}', "'metadata' must be"),
        (json.dumps({"sender": "u1", "message": "长" * 2500}).encode(), "too long"),
        (b'{"sender": "u1", "message": "/survey{oops"}', "invalid JSON"),
    ]
    for body, needle in cases:
        r = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text)
        assert needle in r.json()["message"], (body[:40], r.json())
    assert httpx.get(bot_server.base + "/handoffs").status_code == 401
    assert httpx.get(bot_server.base + "/handoffs", headers={"authorization": "Bearer nope"}).status_code == 401


def test_restart_loses_nothing(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    srv = BotServer(trained_model, model_env, tmp_path).start()
    sender = sid()
    try:
        say(srv.base, sender, "你好")
        say(srv.base, sender, "我年纪大了看不清")
        say(srv.base, sender, "怎么修改登录密码")
        srv.kill()  # SIGKILL mid-conversation
        srv.start()
        nxt = say(srv.base, sender, "/affirm")
        # care mode and the pending care-mode guide survived the restart
        assert customs(nxt, "guide_step") and customs(nxt, "guide_step")[0]["n"] == 2
        events = httpx.get(f"{srv.base}/conversations/{sender}/events",
                           headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
        users = [e["text"] for e in events if e["type"] == "user"]
        assert users == ["你好", "我年纪大了看不清", "怎么修改登录密码", "/affirm"]
    finally:
        srv.stop()
