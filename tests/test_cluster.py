"""Two bankbot instances sharing one PostgreSQL and one Redis (all real servers, started here).

Select with ``-m cluster``. Needs Debian's ``postgresql`` and ``redis-server``; skipped with a reason without.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import BotServer, free_port
from .test_postgres import pg_url  # noqa: F401 - the PostgreSQL server fixture

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
API_TOKEN = "cluster-test-" + uuid.uuid4().hex
GRACE = 3.0


def wait_until(predicate, timeout: float = 60, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value (an event wait, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (apt-get install redis-server); .ci/run installs it")
    root = Path(tempfile.mkdtemp(prefix="bankbot-redis-"))
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until(up, 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(pg_url: str, redis_url: str, trained_model: Path, model_env: dict[str, str],  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotServer, BotServer]]:
    env = {**model_env, "BANKBOT_DATABASE_URL": pg_url, "BANKBOT_REDIS_URL": redis_url,
           "BANKBOT_API_TOKEN": API_TOKEN, "BANKBOT_HANDOFF_GRACE": str(GRACE), "BANKBOT_MIGRATE_ON_START": "always"}
    a = BotServer(trained_model, {**env, "BANKBOT_INSTANCE_ID": "A"}, tmp_path_factory.mktemp("a"))
    b = BotServer(trained_model, {**env, "BANKBOT_INSTANCE_ID": "B"}, tmp_path_factory.mktemp("b"))
    a.start()  # A first: it creates the schema (migrations) the two then share
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture()
def hstore(pg_url: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """The shared handoff tables; every test starts with no open chats and every agent offline."""
    from sqlalchemy import update

    from bot.db import make_engine
    from handoff.store import HandoffStore, agents, sessions

    store = HandoffStore(make_engine(pg_url))
    with store.engine.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.status.in_(["queued", "assigned"]))
                     .values(status="closed", closed_at=time.time()))
        conn.execute(update(agents).values(status="offline"))
    return store


def new_agent(store, capacity: int = 5) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    name = "ag" + uuid.uuid4().hex[:8]
    store.add_agent(name, name, "agent", "pw-" + name, ["general"], capacity)
    return name, "pw-" + name


def login(base: str, user: tuple[str, str]) -> dict[str, str]:
    r = httpx.post(base + "/agent/login", json={"username": user[0], "password": user[1]})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def events(srv: BotServer, sender: str) -> list[dict]:
    r = httpx.get(f"{srv.base}/conversations/{sender}/events", headers={"authorization": f"Bearer {API_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def recv_until(ws, pred, timeout: float = 30) -> list[dict]:  # type: ignore[no-untyped-def]
    """Frames up to and including the first that satisfies ``pred``."""
    frames: list[dict] = []
    while not frames or not pred(frames[-1]):
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return frames


def test_ready_and_metrics_on_both(pair: tuple[BotServer, BotServer]) -> None:
    for srv in pair:
        r = httpx.get(srv.base + "/ready")
        assert r.status_code == 200 and r.json()["checks"] == {"model": True, "database": True, "redis": True}
        m = httpx.get(srv.base + "/metrics").text
        assert "bankbot_requests_total" in m and "bankbot_queue_length" in m and "bankbot_agents_online" in m


def test_customer_on_a_agent_on_b(pair: tuple[BotServer, BotServer], hstore) -> None:  # type: ignore[no-untyped-def]
    import websockets

    a, b = pair
    agent = new_agent(hstore)
    auth = login(b.base, agent)
    token = auth["authorization"][7:]
    sender = "x-" + uuid.uuid4().hex[:10]

    async def scenario() -> dict:
        got: dict = {}
        async with websockets.connect(f"{b.ws_base}/agent/ws",
                                      additional_headers={"Authorization": f"Bearer {token}"}) as agent_ws, \
                websockets.connect(f"{a.ws_base}/webhooks/websocket?sender={sender}") as cust:
            await recv_until(agent_ws, lambda f: f["type"] == "queue")
            await recv_until(cust, lambda f: f["type"] == "session")
            # the agent is away: the chat waits, and the queue position reaches the customer on A
            await cust.send(json.dumps({"type": "message", "text": "转人工"}))
            got["queue"] = (await recv_until(cust, lambda f: f["type"] == "queue"))[-1]
            r = await asyncio.to_thread(httpx.post, b.base + "/agent/status", json={"status": "online"}, headers=auth)
            assert r.status_code == 200
            chat = (await recv_until(agent_ws, lambda f: f["type"] == "chat_assigned"))[-1]["chat"]
            joined = await recv_until(cust, lambda f: (f["message"].get("custom") or {}).get("status") == "assigned"
                                      if f["type"] == "bot" else False)
            got["joined"] = joined[-1]
            r = await asyncio.to_thread(httpx.post, f"{b.base}/agent/chats/{chat['id']}/messages",
                                        json={"text": "您好，我来帮您"}, headers=auth)
            assert r.status_code == 200
            got["agent_msg"] = (await recv_until(cust, lambda f: f["type"] == "agent"))[-1]
            await cust.send(json.dumps({"type": "message", "text": "我的转账没到账"}))
            got["forwarded"] = (await recv_until(agent_ws, lambda f: f["type"] == "customer_message"))[-1]
            r = await asyncio.to_thread(httpx.post, f"{b.base}/agent/chats/{chat['id']}/return", headers=auth)
            assert r.status_code == 200
            got["survey"] = (await recv_until(cust, lambda f: f["type"] == "bot" and (
                f["message"].get("custom") or {}).get("type") == "survey"))[-1]
        return got

    got = asyncio.run(scenario())
    assert got["queue"]["queue_position"] == 0, "alone in the queue: nobody ahead"
    assert got["agent_msg"]["message"]["text"] == "您好，我来帮您" and got["agent_msg"]["agent"] == agent[0]
    assert got["forwarded"]["message"]["text"] == "我的转账没到账"
    assert got["survey"]["message"]["recipient_id"] == sender
    kinds = [e["type"] for e in events(b, sender)]
    assert kinds.count("handoff_assigned") == 1 and "handoff_end" in kinds


def test_turns_alternating_between_instances_stay_in_order(pair: tuple[BotServer, BotServer]) -> None:
    a, b = pair
    sender = "o-" + uuid.uuid4().hex[:10]
    texts = ["你好", "怎么修改登录密码", "信用卡年费多少", "怎么查余额", "谢谢", "外汇汇率是多少"]
    first = httpx.post(a.base + "/webhooks/rest/webhook", json={"sender": sender, "message": "在吗"}, timeout=60)
    assert first.status_code == 200
    token = {"x-conversation-token": first.headers["x-conversation-token"]}  # valid on both instances

    async def send_all() -> list[list[dict]]:
        async with httpx.AsyncClient(timeout=120) as client:
            async def one(i: int, text: str) -> list[dict]:
                srv = (a, b)[i % 2]
                r = await client.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                      headers=token)
                assert r.status_code == 200, r.text
                return r.json()

            return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(texts))))

    replies = dict(zip(texts, asyncio.run(send_all()), strict=True))
    evs = [e for e in events(a, sender) if e["type"] in ("user", "bot")]
    # one user message, then exactly that turn's bot replies, then the next user message
    turns: list[tuple[str, list[str]]] = []
    for e in evs:
        if e["type"] == "user":
            turns.append((e["text"], []))
        else:
            turns[-1][1].append(e.get("text") or "")
    assert sorted(t for t, _ in turns[1:]) == sorted(texts)
    for text, bot_texts in turns[1:]:
        assert bot_texts and bot_texts == [m.get("text") or "" for m in replies[text]], text


def test_two_instances_assign_12_chats_to_2_agents_within_capacity(pair: tuple[BotServer, BotServer],
                                                                   hstore) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    x, y = new_agent(hstore), new_agent(hstore)
    ax, ay = login(a.base, x), login(b.base, y)
    ids = {r.username: r.id for r in hstore.all_agents() if r.username in (x[0], y[0])}
    for rnd in range(20):
        sids = [hstore.create_session(f"cap-{rnd}-{i}-{uuid.uuid4().hex[:6]}", "general", "normal", "asked",
                                      {"priority": "normal", "reason": "asked"}) for i in range(12)]
        calls = [(a.base + "/agent/status", {"status": "online"}, ax),
                 (b.base + "/agent/status", {"status": "online"}, ay)]
        calls += [((b, a)[i % 2].base + f"/agent/chats/{sid}/pull", {}, (ax, ay)[i % 2]) for i, sid in enumerate(sids)]
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda c: httpx.post(c[0], json=c[1], headers=c[2], timeout=60).status_code, calls))
        assert codes[:2] == [200, 200] and set(codes[2:]) <= {200, 409}, codes
        rows = [hstore.session(s) for s in sids]
        per_agent = {aid: sum(1 for r in rows if r.status == "assigned" and r.agent_id == aid) for aid in ids.values()}
        assert all(n <= 5 for n in per_agent.values()), (rnd, per_agent)
        assert sum(per_agent.values()) == 10, (rnd, per_agent)
        for r in rows:
            got = httpx.get(f"{a.base}/conversations/{r.sender_id}/events",
                            headers={"authorization": f"Bearer {API_TOKEN}"})
            evs = got.json()["events"] if got.status_code == 200 else []
            marks = [e for e in evs if e["type"] == "handoff_assigned"]
            assert len(marks) == (1 if r.status == "assigned" else 0), (rnd, r.id, marks)
        from sqlalchemy import update

        from handoff.store import agents, sessions
        with hstore.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id.in_(sids)).values(status="closed"))
            conn.execute(update(agents).where(agents.c.id.in_(list(ids.values()))).values(status="offline"))


def test_kill_9_instance_a_under_traffic(pair: tuple[BotServer, BotServer], hstore) -> None:  # type: ignore[no-untyped-def]
    import websockets

    a, b = pair
    x, y = new_agent(hstore), new_agent(hstore)
    ax, ay = login(a.base, x), login(b.base, y)
    xid = next(r.id for r in hstore.all_agents() if r.username == x[0])
    senders = ["k-" + uuid.uuid4().hex[:10] for _ in range(20)]
    acked: dict[str, list[int]] = {s: [] for s in senders}
    tokens: dict[str, str] = {}
    assigned_x: list[int] = []

    async def agent_console(srv: BotServer, auth: dict[str, str], stop: asyncio.Event, sink: list[int]) -> None:
        async with websockets.connect(f"{srv.ws_base}/agent/ws", additional_headers=auth) as ws:
            await asyncio.to_thread(httpx.post, srv.base + "/agent/status", json={"status": "online"}, headers=auth)
            try:
                while not stop.is_set():
                    try:
                        f = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    if f["type"] == "chat_assigned":
                        sink.append(f["chat"]["id"])
            except websockets.ConnectionClosed:
                return

    async def customer(sender: str, texts: list[str]) -> None:
        async with websockets.connect(f"{a.ws_base}/webhooks/websocket?sender={sender}") as ws:
            tokens[sender] = json.loads(await ws.recv())["token"]
            for t in texts:
                await ws.send(json.dumps({"type": "message", "text": t}))
                frames = await recv_until(ws, lambda f: f["type"] == "ack")
                acked[sender].append(frames[-1]["event_id"])

    async def phase1() -> None:
        stop = asyncio.Event()
        consoles = [asyncio.create_task(agent_console(a, ax, stop, assigned_x)),
                    asyncio.create_task(agent_console(b, ay, stop, []))]
        await asyncio.sleep(0)
        await asyncio.gather(*(customer(s, ["你好", "转人工"]) for s in senders))
        wait = asyncio.to_thread(wait_until, lambda: len(hstore.sessions_with("assigned")) == 10, 60, "10 assigned")
        await wait
        # traffic continues while A dies
        traffic = asyncio.gather(*(customer_more(s) for s in senders), return_exceptions=True)
        await asyncio.sleep(0)
        a.kill()
        await traffic
        stop.set()
        await asyncio.gather(*consoles, return_exceptions=True)

    async def customer_more(sender: str) -> None:
        await customer(sender, ["还在吗", "我等一下"])

    asyncio.run(phase1())
    open_now = hstore.sessions_with("queued") + hstore.sessions_with("assigned")
    assert len({r.sender_id for r in open_now} & set(senders)) == 20, "the queue is intact"
    x_chats = [r.id for r in hstore.sessions_with("assigned") if r.agent_id == xid]
    assert x_chats, "agent X (on A) kept the chats right after the kill: the grace period has not passed"

    async def reconnect(sender: str) -> None:
        async with websockets.connect(f"{b.ws_base}/webhooks/websocket?sender={sender}",
                                      additional_headers={"X-Conversation-Token": tokens[sender]}) as ws:
            assert json.loads(await ws.recv())["type"] == "session"
            await ws.send(json.dumps({"type": "message", "text": "我换了网络"}))
            acked[sender].append((await recv_until(ws, lambda f: f["type"] == "ack"))[-1]["event_id"])

    async def phase2() -> None:
        await asyncio.gather(*(reconnect(s) for s in senders))

    asyncio.run(phase2())
    for s in senders:
        stored = {e["id"] for e in events(b, s) if e["type"] == "user"}
        assert set(acked[s]) <= stored, s
    wait_until(lambda: all(hstore.session(c).status == "queued" for c in x_chats), 60, "X's chats re-queued")
    row = hstore.agent(xid)
    assert row.status == "offline"
    assert all(hstore.session(c).requeued for c in x_chats)
    a.start()  # the module's other tests may run after this one
