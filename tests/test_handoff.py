"""Human handoff against a real server: routing, capacity, priority, requeue, persistence, security."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from .conftest import EVENT_TIMEOUT, BotServer, post_message, wait_until

PASSWORDS = {"li.na": "demo-agent-1", "wang.lei": "demo-agent-2", "zhao.min": "demo-super-1",
             "chen.yu": "demo-trainer-1"}


@pytest.fixture()
def srv(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> Iterator[BotServer]:
    """A fresh server + database per test: agents and queues start empty."""
    s = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "1"}, tmp_path).start()
    try:
        yield s
    finally:
        s.stop()


def login(base: str, user: str) -> dict[str, str]:
    r = httpx.post(base + "/agent/login", json={"username": user, "password": PASSWORDS[user]})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def status(base: str, auth: dict[str, str], value: str) -> None:
    r = httpx.post(base + "/agent/status", json={"status": value}, headers=auth)
    assert r.status_code == 200, r.text


def customer(base: str, text: str, sender: str | None = None) -> tuple[str, list[dict]]:
    sender = sender or "c-" + uuid.uuid4().hex[:10]
    r = post_message(base, sender, text)
    assert r.status_code == 200, r.text
    return sender, r.json()


def handoff_info(messages: list[dict]) -> dict:
    return next(m["custom"] for m in messages if m.get("custom", {}).get("type") == "handoff")


def test_agent_endpoints_require_valid_tokens(srv: BotServer) -> None:
    for method, path in [("GET", "/agent/me"), ("GET", "/agent/chats"), ("GET", "/agent/queue"),
                         ("POST", "/agent/status"), ("POST", "/agent/chats/1/messages"),
                         ("GET", "/supervisor/overview"), ("GET", "/agent/phrases")]:
        assert httpx.request(method, srv.base + path).status_code == 401
        assert httpx.request(method, srv.base + path, headers={"authorization": "Bearer forged"}).status_code == 401
    assert httpx.post(srv.base + "/agent/login", json={"username": "li.na", "password": "wrong"}).status_code == 401
    assert httpx.post(srv.base + "/agent/login", content=b"{oops").status_code == 400
    trainer = login(srv.base, "chen.yu")
    assert httpx.get(srv.base + "/agent/queue", headers=trainer).status_code == 403
    agent = login(srv.base, "li.na")
    assert httpx.get(srv.base + "/supervisor/overview", headers=agent).status_code == 403
    assert httpx.get(srv.base + "/supervisor/overview", headers=login(srv.base, "zhao.min")).status_code == 200


def test_customer_cannot_read_another_conversation(srv: BotServer) -> None:
    r = httpx.post(srv.base + "/webhooks/rest/webhook",
                   json={"sender": "alice-1", "message": "我的卡号6222021234567890"})
    token = r.headers["x-conversation-token"]
    assert httpx.get(srv.base + "/conversations/alice-1/messages").status_code == 401
    assert httpx.get(srv.base + "/conversations/alice-1/messages?token=" + "0" * 32).status_code == 401
    mine = httpx.get(srv.base + f"/conversations/alice-1/messages?token={token}")
    assert mine.status_code == 200 and mine.json()
    # the second turn of an existing conversation does not hand out the token again
    again = httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": "alice-1", "message": "你好"},
                       headers={"x-conversation-token": token})
    assert again.status_code == 200 and "x-conversation-token" not in again.headers
    # nobody else writes into alice's conversation (issue 12, finding 1)
    forged = httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": "alice-1", "message": "余额多少"})
    assert forged.status_code == 401

    async def sneak() -> tuple[str, int | None]:
        async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender=alice-1") as ws:
            await ws.send(json.dumps({"type": "message", "text": "余额多少"}))  # no auth frame first
            frame = json.loads(await ws.recv())
            try:
                await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)
            except websockets.ConnectionClosed as exc:
                return frame["type"], exc.rcvd.code if exc.rcvd else None
            return frame["type"], None

    kind, code = asyncio.run(sneak())
    assert kind == "error" and code == 4401


def test_handoff_round_trip_with_context(srv: BotServer) -> None:
    auth = login(srv.base, "li.na")
    status(srv.base, auth, "online")
    token = auth["authorization"][7:]

    async def scenario() -> dict:
        got: dict = {}
        async with websockets.connect(f"{srv.ws_base}/agent/ws") as agent_ws:
            await agent_ws.send(json.dumps({"type": "auth", "token": token}))  # the console's way: a first frame
            sender = "c-" + uuid.uuid4().hex[:8]
            async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender={sender}") as cust:
                await cust.send(json.dumps({"type": "message", "text": "我信用卡6222 0212 3456 7890这个月账单多少"}))
                await cust.send(json.dumps({"type": "message", "text": "转人工"}))
                while "chat" not in got:
                    frame = json.loads(await asyncio.wait_for(agent_ws.recv(), EVENT_TIMEOUT))
                    if frame["type"] == "chat_assigned":
                        got["chat"] = frame["chat"]
                chat_id = got["chat"]["id"]
                r = await asyncio.to_thread(httpx.post, f"{srv.base}/agent/chats/{chat_id}/messages",
                                            json={"text": "您好，我是客服李娜"}, headers=auth)
                assert r.status_code == 200
                r = await asyncio.to_thread(httpx.post, f"{srv.base}/agent/chats/{chat_id}/guide",
                                            json={"guide_id": "card_bill"}, headers=auth)
                assert r.status_code == 200
                frames = []
                while not any(f["type"] == "agent" and f["message"].get("custom", {}).get("type") == "guide"
                              for f in frames):
                    frames.append(json.loads(await asyncio.wait_for(cust.recv(), EVENT_TIMEOUT)))
                got["customer_frames"] = frames
                await cust.send(json.dumps({"type": "message", "text": "好的我看看"}))
                while True:
                    frame = json.loads(await asyncio.wait_for(agent_ws.recv(), EVENT_TIMEOUT))
                    if frame["type"] == "customer_message":
                        got["forwarded"] = frame
                        break
                r = await asyncio.to_thread(httpx.post, f"{srv.base}/agent/chats/{chat_id}/return", headers=auth)
                assert r.status_code == 200
                while True:
                    frame = json.loads(await asyncio.wait_for(cust.recv(), EVENT_TIMEOUT))
                    if frame["type"] == "bot" and frame["message"].get("custom", {}).get("type") == "survey":
                        break
                await cust.send(json.dumps({"type": "survey", "score": 5}))
                # like the widget, keep the socket until the survey is answered (a frame sent in the
                # same instant as the close can be dropped by the server's websocket layer)
                while True:
                    frame = json.loads(await asyncio.wait_for(cust.recv(), EVENT_TIMEOUT))
                    if frame["type"] == "bot":
                        break
                got["sender"] = sender
        return got

    got = asyncio.run(scenario())
    # the survey frame is processed after the socket closes: wait for it to be stored (no fixed sleep)
    wait_until(lambda: any(e["type"] == "survey" for e in httpx.get(
        f"{srv.base}/conversations/{got['sender']}/events",
        headers={"authorization": f"Bearer {srv.token}"}).json()["events"]), what="the survey being stored")
    ctx = got["chat"]["context"]
    assert ctx["reason"] == "asked" and ctx["intents"][0]["intent"] == "card_bill"
    dump = json.dumps(got["chat"], ensure_ascii=False)
    assert "0212 3456" not in dump and "6222 **** **** 7890" in dump
    assert got["chat"]["skill"] == "inquiry"
    agent_frames = [f for f in got["customer_frames"] if f["type"] == "agent"]
    assert agent_frames[0]["agent"] == "李娜" and agent_frames[0]["message"]["text"] == "您好，我是客服李娜"
    assert got["forwarded"]["message"]["text"] == "好的我看看"
    events = httpx.get(f"{srv.base}/conversations/{got['sender']}/events",
                       headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
    # while the agent owned the chat the bot said nothing to "好的我看看"
    idx = next(i for i, e in enumerate(events) if e["type"] == "user" and e["text"] == "好的我看看")
    end = next(i for i, e in enumerate(events) if e["type"] == "handoff_end")
    assert idx < end and not [e for e in events[idx + 1:end] if e["type"] == "bot"]
    survey = [e for e in events if e["type"] == "survey"]
    assert survey and survey[0]["score"] == 5 and survey[0]["served_by"] == "agent"
    assert httpx.get(srv.base + "/agent/chats", headers=auth).json() == []


async def recv_until(ws, match, seen: list[dict] | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Frames from ``ws`` until one ``match``es (those before it go to ``seen``)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
        if match(frame):
            return frame
        if seen is not None:
            seen.append(frame)


def test_agent_socket_auth_and_typing_both_ways(srv: BotServer) -> None:
    """The agent socket takes its token in a first frame or a header, never the URL; typing notices are
    relayed (throttled) from the customer to their agent and from the agent to their customer."""
    auth = login(srv.base, "li.na")
    status(srv.base, auth, "online")
    token = auth["authorization"][7:]

    async def refused(url: str, first: dict | None = None) -> int | None:
        async with websockets.connect(url) as ws:
            if first is not None:
                await ws.send(json.dumps(first))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert asyncio.run(refused(f"{srv.ws_base}/agent/ws?token={token}")) == 4401
    assert asyncio.run(refused(f"{srv.ws_base}/agent/ws", {"type": "auth", "token": "forged"})) == 4401
    assert asyncio.run(refused(f"{srv.ws_base}/agent/ws", {"type": "ping"})) == 4401

    async def scenario() -> tuple[dict, list[dict], dict]:
        async with websockets.connect(f"{srv.ws_base}/agent/ws") as agent_ws:
            await agent_ws.send(json.dumps({"type": "auth", "token": token}))
            await recv_until(agent_ws, lambda f: f["type"] == "queue")
            sender = "t-" + uuid.uuid4().hex[:8]
            async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender={sender}") as cust:
                await cust.send(json.dumps({"type": "message", "text": "转人工"}))
                chat = (await recv_until(agent_ws, lambda f: f["type"] == "chat_assigned"))["chat"]
                for _ in range(5):
                    await cust.send(json.dumps({"type": "typing"}))
                await cust.send(json.dumps({"type": "message", "text": "我的卡被冻结了"}))
                before: list[dict] = []
                await recv_until(agent_ws, lambda f: f["type"] == "customer_message", before)
                # someone else's chat id is ignored; the agent's own chat reaches the customer
                await agent_ws.send(json.dumps({"type": "typing", "chat_id": chat["id"] + 1000}))
                await agent_ws.send(json.dumps({"type": "typing", "chat_id": chat["id"]}))
                notice = await recv_until(cust, lambda f: f["type"] == "agent_typing")
                return chat, before, notice

    chat, before, notice = asyncio.run(scenario())
    typing = [f for f in before if f["type"] == "customer_typing"]
    assert 1 <= len(typing) < 5, before  # relayed, at most one per interval
    assert all(f["chat_id"] == chat["id"] for f in typing)
    assert notice == {"type": "agent_typing", "agent": "李娜"}


def test_capacity_and_priority(srv: BotServer) -> None:
    auth = login(srv.base, "wang.lei")  # capacity 5
    # queue first, with nobody online: a normal chat, then a distressed elderly customer
    normal, out = customer(srv.base, "转人工")
    assert handoff_info(out)["queue_position"] == 0, "alone in the queue: nobody ahead"
    care_sender, _ = customer(srv.base, "我七十多了眼睛看不清")
    _, out = customer(srv.base, "转人工", care_sender)
    assert handoff_info(out)["queue_position"] == 0, "high priority goes first: nobody ahead"
    queue = httpx.get(srv.base + "/agent/queue", headers=auth).json()
    assert [q["sender_id"] for q in queue] == [care_sender, normal]
    assert queue[0]["priority"] == "high" and queue[1]["priority"] == "normal"
    for _ in range(4):
        customer(srv.base, "转人工")
    assert len(httpx.get(srv.base + "/agent/queue", headers=auth).json()) == 6
    status(srv.base, auth, "online")
    wait_until(lambda: len(httpx.get(srv.base + "/agent/chats", headers=auth).json()) >= 5, what="5 assignments")
    mine = httpx.get(srv.base + "/agent/chats", headers=auth).json()
    queue = httpx.get(srv.base + "/agent/queue", headers=auth).json()
    assert len(mine) == 5 and len(queue) == 1, "the 6th chat stays queued"
    assert care_sender in {c["sender_id"] for c in mine}
    assert queue[0]["sender_id"] != care_sender
    pulled = httpx.post(f"{srv.base}/agent/chats/{queue[0]['id']}/pull", headers=auth)
    assert pulled.status_code == 409 and "capacity" in pulled.json()["message"]


def test_agent_disconnect_requeues_at_front(srv: BotServer) -> None:
    auth = login(srv.base, "li.na")
    status(srv.base, auth, "online")

    async def connect_then_drop() -> None:
        async with websockets.connect(f"{srv.ws_base}/agent/ws", additional_headers=auth) as ws:
            await asyncio.to_thread(customer, srv.base, "转人工")
            while True:
                if json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))["type"] == "chat_assigned":
                    break

    asyncio.run(connect_then_drop())
    other, _ = customer(srv.base, "转人工")  # li.na is still online until the grace period ends
    queue = wait_until(lambda: [q for q in [httpx.get(srv.base + "/agent/queue", headers=auth).json()]
                                if any(x["requeued"] for x in q)], what="the requeue after the grace period")[0]
    assert queue and queue[0]["requeued"] is True, queue
    assert httpx.get(srv.base + "/agent/me", headers=auth).json()["status"] == "offline"


def test_kill_9_keeps_queue_and_assignments(srv: BotServer) -> None:
    auth = login(srv.base, "li.na")
    status(srv.base, auth, "online")
    active, _ = customer(srv.base, "转人工")
    wait_until(lambda: httpx.get(srv.base + "/agent/chats", headers=auth).json(), what="the assignment")
    chat = httpx.get(srv.base + "/agent/chats", headers=auth).json()[0]
    httpx.post(f"{srv.base}/agent/chats/{chat['id']}/messages", json={"text": "请稍等"}, headers=auth)
    status(srv.base, auth, "away")
    waiting, _ = customer(srv.base, "人工客服")
    srv.kill()
    srv.start()
    mine = httpx.get(srv.base + "/agent/chats", headers=auth).json()  # tokens survive the restart too
    assert [c["sender_id"] for c in mine] == [active]
    assert any(m["from"] == "agent" and m["text"] == "请稍等" for m in mine[0]["messages"])
    queue = httpx.get(srv.base + "/agent/queue", headers=auth).json()
    assert [q["sender_id"] for q in queue] == [waiting]


def test_phrases_labels_tickets_suggestions(srv: BotServer) -> None:
    auth = login(srv.base, "li.na")
    status(srv.base, auth, "online")
    sender, _ = customer(srv.base, "我的积分怎么兑换")
    customer(srv.base, "转人工", sender)
    wait_until(lambda: httpx.get(srv.base + "/agent/chats", headers=auth).json(), what="the assignment")
    chat = httpx.get(srv.base + "/agent/chats", headers=auth).json()[0]
    phrases = httpx.get(srv.base + "/agent/phrases?q=greet", headers=auth).json()
    assert phrases and phrases[0]["code"] == "/greet" and "{customer_name}" in phrases[0]["text"]
    r = httpx.post(srv.base + "/agent/phrases", json={"code": "/mine", "text": "我的短语"}, headers=auth)
    assert r.status_code == 200 and r.json()["shared"] is False
    bad = httpx.post(srv.base + "/agent/phrases", json={"code": "bad code", "text": "x"}, headers=auth)
    assert bad.status_code == 400
    sugg = httpx.get(f"{srv.base}/agent/chats/{chat['id']}/suggestions", headers=auth).json()
    customer_msgs = [m for m in chat["messages"] if m["from"] == "customer"]
    first = customer_msgs[0]
    assert first["intent"] == "redeem_points"
    r = httpx.post(f"{srv.base}/agent/messages/{first['event_id']}/label", json={"intent": "points_balance"},
                   headers=auth)
    assert r.status_code == 200
    assert isinstance(sugg, list)
    r = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/ticket",
                   json={"kind": "callback", "due_at": time.time() + 3600, "note": "回电确认"}, headers=auth)
    assert r.status_code == 200
    tid = r.json()["ticket_id"]
    assert httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=auth).status_code == 200
    bad = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/ticket", json={"kind": "fax"}, headers=auth)
    assert bad.status_code == 400
    r = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/close", json={"disposition": "resolved"}, headers=auth)
    assert r.status_code == 200
    events = httpx.get(f"{srv.base}/conversations/{sender}/events",
                       headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
    texts = [e.get("text", "") for e in events if e["type"] == "agent"]
    assert any(f"T{tid}" in t and "登记" in t for t in texts) and any(f"T{tid}" in t and "完成" in t for t in texts)
    assert any(e["type"] == "bot" and e.get("custom", {}).get("type") == "survey" for e in events)


def test_waiting_customer_can_leave_a_message(srv: BotServer) -> None:
    sender, out = customer(srv.base, "转人工")
    assert any(b["payload"] == "/leave_message" for m in out for b in m.get("buttons", []))
    # while a person is coming the bot sends only honest queue updates: the question waits for the agent
    _, out = customer(srv.base, "怎么修改登录密码", sender)
    assert not any(m.get("custom", {}).get("type") == "guide" for m in out)
    customer(srv.base, "/leave_message", sender)
    _, out = customer(srv.base, "请明天上午给我回电话，关于信用卡额度", sender)
    assert "已为您登记留言" in out[0]["text"]
    auth = login(srv.base, "li.na")
    assert httpx.get(srv.base + "/agent/queue", headers=auth).json() == []
    events = httpx.get(f"{srv.base}/conversations/{sender}/events",
                       headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
    ticket = [e for e in events if e["type"] == "ticket"]
    assert ticket and ticket[0]["text"].startswith("请明天上午") and ticket[0]["ticket_id"] >= 1


def test_agents_cli_adds_an_agent_who_can_log_in(tmp_path: Path) -> None:
    from .conftest import run_cli

    env = {"BANKBOT_DATA_DIR": str(tmp_path), "BANKBOT_AGENT_PASSWORD": "s3cret-pass"}
    proc = run_cli("agents", "add", "sun.li", "--name", "孙丽", "--skills", "inquiry,general", "--capacity", "3",
                   env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert run_cli("agents", "set", "sun.li", "--skills", "inquiry", "--capacity", "7", env=env).returncode == 0
    listed = [json.loads(line) for line in run_cli("agents", "list", env=env).stdout.decode().splitlines()]
    sun = next(a for a in listed if a["username"] == "sun.li")
    assert sun["capacity"] == 7 and sun["skills"] == ["inquiry"] and sun["name"] == "孙丽"
    bad = run_cli("agents", "add", "x", "--skills", "astrology", env=env)
    assert bad.returncode == 1 and "unknown skills" in bad.stderr.decode()
    from bot.db import make_engine
    from handoff.store import HandoffStore

    store = HandoffStore(make_engine(f"sqlite:///{tmp_path / 'bankbot.db'}"))
    assert store.login("sun.li", "s3cret-pass") is not None and store.login("sun.li", "wrong") is None
