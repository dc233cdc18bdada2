"""Issue 12, crash recovery, against real server processes killed with SIGKILL and restarted on the same data:
idempotent client message ids, stored unanswered messages answered after a restart, agent presence that
survives a restart (absent agents' chats re-queued at the front, returning agents keep theirs)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import update

from bot.dialogue.store import TrackerStore
from bot.dialogue.store import events as events_table

from .conftest import CONVERSATION_TOKENS, EVENT_TIMEOUT, BotServer, post_message


@pytest.fixture()
def srv(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> Iterator[BotServer]:
    s = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "2"}, tmp_path).start()
    try:
        yield s
    finally:
        s.stop()


def sid() -> str:
    return "rc-" + uuid.uuid4().hex[:10]


def events(srv: BotServer, sender: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{srv.base}/conversations/{sender}/events", headers={"authorization": f"Bearer {srv.token}"})
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def user_texts(srv: BotServer, sender: str) -> list[str]:
    return [e["text"] for e in events(srv, sender) if e["type"] == "user"]


async def ws_send(srv: BotServer, sender: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Open the customer's socket, send one frame, return the first ack (or error) frame."""
    query = f"sender={sender}" + (f"&token={CONVERSATION_TOKENS[sender]}" if sender in CONVERSATION_TOKENS else "")
    async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?{query}") as ws:
        session = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
        assert session["type"] == "session", session
        if session.get("token"):
            CONVERSATION_TOKENS[sender] = session["token"]
        await ws.send(json.dumps(frame))
        while True:
            got = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
            if got["type"] in ("ack", "error"):
                return dict(got)


def test_message_id_must_be_a_short_token(srv: BotServer) -> None:
    for bad in ["has space", "x" * 65, 12, "", "a\n", "中文"]:
        r = post_message(srv.base, sid(), "你好", message_id=bad)
        assert r.status_code == 400 and "'message_id'" in r.json()["message"], (bad, r.status_code, r.text)
    err = asyncio.run(ws_send(srv, sid(), {"type": "message", "text": "你好", "message_id": "bad id"}))
    assert err["type"] == "error" and "'message_id'" in err["message"]


def test_resent_message_id_is_not_duplicated_across_a_kill(srv: BotServer) -> None:
    rest, sock = sid(), sid()
    first = post_message(srv.base, rest, "怎么查余额", message_id="m-1")
    assert first.status_code == 200 and first.json(), first.text
    again = post_message(srv.base, rest, "怎么查余额", message_id="m-1")
    assert again.status_code == 200 and again.headers["x-duplicate-message"] == "1"
    assert again.headers["x-event-id"] == first.headers["x-event-id"]
    assert [m.get("text") for m in again.json()] == [m.get("text") for m in first.json()]
    ack = asyncio.run(ws_send(srv, sock, {"type": "message", "text": "你好", "message_id": "w-1"}))
    assert ack["type"] == "ack" and ack["message_id"] == "w-1"
    srv.kill()  # SIGKILL mid-conversation
    srv.start()
    retry = post_message(srv.base, rest, "怎么查余额", message_id="m-1")
    assert retry.status_code == 200 and retry.headers["x-duplicate-message"] == "1"
    assert retry.headers["x-event-id"] == first.headers["x-event-id"]
    resent = asyncio.run(ws_send(srv, sock, {"type": "message", "text": "你好", "message_id": "w-1"}))
    assert resent["type"] == "ack" and resent["event_id"] == ack["event_id"]
    assert user_texts(srv, rest) == ["怎么查余额"]
    assert user_texts(srv, sock) == ["你好"]
    # a new id is a new message; the same id in another conversation is that conversation's own
    nxt = post_message(srv.base, rest, "谢谢", message_id="m-2")
    assert nxt.status_code == 200 and "x-duplicate-message" not in nxt.headers
    assert user_texts(srv, rest) == ["怎么查余额", "谢谢"]
    other = sid()
    assert "x-duplicate-message" not in post_message(srv.base, other, "你好", message_id="m-1").headers
    assert user_texts(srv, other) == ["你好"]


def crash_after_storing(srv: BotServer, sender: str, age_s: float = 0.0) -> int:
    """The state a crash between storing a message and replying leaves: the customer's message repeated, stored
    as the server stores it (real tracker store, same parse data), with no reply after it. The server is down."""
    store = TrackerStore(f"sqlite:///{srv.data_dir / 'bankbot.db'}")
    try:
        prev = store.events(sender, types=["user"])[-1]
        (event_id,) = store.save_turn(store.load(sender), [("user", {
            "text": prev["text"], "parse_data": prev["parse_data"], "channel": "rest", "metadata": {}})])
        if age_s:
            with store.engine.begin() as conn:
                conn.execute(update(events_table).where(events_table.c.id == event_id).values(ts=time.time() - age_s))
        return int(event_id)
    finally:
        store.engine.dispose()


def test_stored_unanswered_message_is_answered_after_restart(srv: BotServer) -> None:
    fresh, old, queued = sid(), sid(), sid()
    for sender in (fresh, old):
        assert post_message(srv.base, sender, "怎么查余额").status_code == 200
    assert post_message(srv.base, queued, "转人工").status_code == 200  # no agent online: queued, told so
    handoffs = httpx.get(srv.base + "/handoffs", headers={"authorization": f"Bearer {srv.token}"}).json()["handoffs"]
    assert [h["status"] for h in handoffs if h["sender_id"] == queued] == ["queued"]
    srv.kill()
    unanswered = crash_after_storing(srv, fresh)
    ancient = crash_after_storing(srv, old, age_s=10_000)  # older than the recovery window (900 s default)
    waiting = crash_after_storing(srv, queued)
    srv.start()  # /health answers only after the recovery ran
    after = [e for e in events(srv, fresh) if e["id"] > unanswered]
    assert after and after[-1]["type"] == "bot", after
    assert [e for e in events(srv, fresh) if e["type"] == "user"][-1]["id"] == unanswered  # nothing re-stored
    # the reply reaches the customer: the widget's history (polling) has it
    r = httpx.get(f"{srv.base}/conversations/{fresh}/messages?after={unanswered}",
                  headers={"X-Conversation-Token": CONVERSATION_TOKENS[fresh]})
    assert r.status_code == 200 and r.json() and r.json()[0]["from"] == "bot", r.text
    # an ancient message is not replayed; a queued chat is the agents' (no bot turn for it)
    assert [e["type"] for e in events(srv, old) if e["id"] > ancient and e["type"] in ("bot", "agent")] == []
    assert [e["type"] for e in events(srv, queued) if e["id"] > waiting and e["type"] in ("bot", "agent")] == []
