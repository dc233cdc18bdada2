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

from bot.db import make_engine
from bot.dialogue.store import TrackerStore
from bot.dialogue.store import events as events_table
from handoff.store import HandoffStore

from .conftest import CONVERSATION_TOKENS, EVENT_TIMEOUT, BotServer, post_message, wait_until


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


async def ws_send(srv: BotServer, sender: str, frame: dict[str, Any], replies: list[dict] | None = None
                  ) -> dict[str, Any]:
    """Open the customer's socket, send one frame, return the first ack (or error) frame; with ``replies``,
    also wait for the first bot frame after the ack and collect it there."""
    async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender={sender}") as ws:
        if sender in CONVERSATION_TOKENS:  # the token goes in a first frame, never in the URL
            await ws.send(json.dumps({"type": "auth", "token": CONVERSATION_TOKENS[sender]}))
        session = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
        assert session["type"] == "session", session
        if session.get("token"):
            CONVERSATION_TOKENS[sender] = session["token"]
        await ws.send(json.dumps(frame))
        answer: dict[str, Any] | None = None
        while True:
            got = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
            if answer is None and got["type"] in ("ack", "error"):
                answer = dict(got)
                if replies is None or got["type"] == "error":
                    return answer
            elif answer is not None and replies is not None and got["type"] == "bot":
                replies.append(got["message"])
                return answer


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
    replayed: list[dict] = []
    resent = asyncio.run(ws_send(srv, sock, {"type": "message", "text": "你好", "message_id": "w-1"}, replayed))
    assert resent["type"] == "ack" and resent["event_id"] == ack["event_id"]
    # the resending socket had no ack, so none of the replies either: it gets the stored ones (no new turn)
    stored_bot = [e for e in events(srv, sock) if e["type"] == "bot"]
    assert replayed and replayed[0].get("text") == stored_bot[0].get("text")
    assert user_texts(srv, rest) == ["怎么查余额"]
    assert user_texts(srv, sock) == ["你好"]
    assert len([e for e in events(srv, sock) if e["type"] == "bot"]) == len(stored_bot)
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


def new_agent(hstore: HandoffStore) -> tuple[int, dict[str, str]]:
    """An agent with room for one chat; returns its id and (after login) its auth header."""
    name = "ra" + uuid.uuid4().hex[:8]
    agent_id = hstore.add_agent(name, name, "agent", "pw-" + name, ["general"], 1)
    return agent_id, {"username": name, "password": "pw-" + name}


def login(base: str, creds: dict[str, str]) -> dict[str, str]:
    r = httpx.post(base + "/agent/login", json=creds)
    assert r.status_code == 200, r.text
    auth = {"authorization": f"Bearer {r.json()['token']}"}
    assert httpx.post(base + "/agent/status", json={"status": "online"}, headers=auth).status_code == 200
    return auth


def test_absent_agent_requeued_at_front_returning_agent_keeps_chats(
        trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    # the grace period each agent gets after the restart to reconnect (short, but room for a reconnect)
    srv = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "10"}, tmp_path, demo=False).start()
    engine = make_engine(f"sqlite:///{tmp_path / 'bankbot.db'}")
    hstore = HandoffStore(engine)
    try:
        gone_id, gone = new_agent(hstore)
        back_id, back = new_agent(hstore)

        def session_of(sender: str) -> Any:
            return hstore.open_session_for(sender)

        async def scenario() -> None:
            gone_auth = await asyncio.to_thread(login, srv.base, gone)
            consoles = [await websockets.connect(f"{srv.ws_base}/agent/ws", additional_headers=gone_auth)]
            c_gone = sid()
            await asyncio.to_thread(post_message, srv.base, c_gone, "转人工")
            await asyncio.to_thread(wait_until, lambda: session_of(c_gone) is not None and
                                    session_of(c_gone).agent_id == gone_id, what="the absent agent's chat")
            back_auth = await asyncio.to_thread(login, srv.base, back)
            consoles.append(await websockets.connect(f"{srv.ws_base}/agent/ws", additional_headers=back_auth))
            c_back = sid()
            await asyncio.to_thread(post_message, srv.base, c_back, "转人工")
            await asyncio.to_thread(wait_until, lambda: session_of(c_back) is not None and
                                    session_of(c_back).agent_id == back_id, what="the returning agent's chat")
            c_waiting = sid()  # both agents are full: this one waits in the queue
            await asyncio.to_thread(post_message, srv.base, c_waiting, "转人工")
            assert session_of(c_waiting).status == "queued"
            seen_before = hstore.agent(back_id).last_seen
            assert seen_before is not None and hstore.agent(gone_id).last_seen is not None  # heartbeats stored

            await asyncio.to_thread(srv.kill)  # SIGKILL: every console is cut, nothing is flushed
            for ws in consoles:
                await ws.close()
            await asyncio.to_thread(srv.start)
            # one agent comes back within the grace period; the other never does
            async with websockets.connect(f"{srv.ws_base}/agent/ws", additional_headers=back_auth):
                await asyncio.to_thread(wait_until, lambda: hstore.agent(gone_id).status == "offline" and
                                        session_of(c_gone).status == "queued",
                                        what="the absent agent offline and their chat re-queued")
                assert hstore.agent(back_id).status == "online" and hstore.agent(back_id).last_seen > seen_before
                assert session_of(c_back).status == "assigned" and session_of(c_back).agent_id == back_id
                queue = httpx.get(srv.base + "/agent/queue", headers=back_auth).json()
                # the re-queued chat goes to the front, ahead of the one that waited longer
                assert [q["sender_id"] for q in queue] == [c_gone, c_waiting], queue
                assert queue[0]["requeued"] is True
                assert [c["sender_id"] for c in httpx.get(srv.base + "/agent/chats", headers=back_auth).json()] \
                    == [c_back]

            # the customer is told honestly that their agent left and they wait again
            notices = [e["custom"]["status"] for e in events(srv, c_gone)
                       if e["type"] == "bot" and (e.get("custom") or {}).get("type") == "handoff"]
            assert notices[-1] == "requeued", notices
            kept = [e["custom"]["status"] for e in events(srv, c_back)
                    if e["type"] == "bot" and (e.get("custom") or {}).get("type") == "handoff"]
            assert "requeued" not in kept, kept

        asyncio.run(scenario())
    finally:
        srv.stop()
        engine.dispose()
