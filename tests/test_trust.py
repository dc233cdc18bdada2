"""Issue 12 against a real server: bad input isolated, 4xx instead of 500, abuse limits, secure defaults,
ticket ownership, masking everywhere (database file, logs, API responses)."""

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

from .conftest import BotServer, run_cli

PASSWORDS = {"li.na": "demo-agent-1", "wang.lei": "demo-agent-2", "zhao.min": "demo-super-1",
             "chen.yu": "demo-trainer-1"}


@pytest.fixture(scope="module")
def srv(trained_model: Path, model_env: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    s = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "1"}, tmp_path_factory.mktemp("trust")).start()
    try:
        yield s
    finally:
        s.stop()


def sid() -> str:
    return "tr-" + uuid.uuid4().hex[:10]


def login(base: str, user: str) -> dict[str, str]:
    r = httpx.post(base + "/agent/login", json={"username": user, "password": PASSWORDS[user]})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def wait_chat(base: str, auth: dict[str, str], sender: str) -> dict:
    for _ in range(100):
        chats = [c for c in httpx.get(base + "/agent/chats", headers=auth).json() if c["sender_id"] == sender]
        if chats:
            return chats[0]
        time.sleep(0.1)  # polling the state we wait for, not a fixed delay
    raise AssertionError("chat never assigned")


def test_bad_message_does_not_fail_innocent_customers(srv: BotServer) -> None:
    """Finding 3: a lone surrogate among 10 concurrent customers: they all get answers, it gets a 400."""
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            bad = client.post(srv.base + "/webhooks/rest/webhook",
                              content=b'{"sender": "evil-1", "message": "\\ud800"}',
                              headers={"content-type": "application/json"})
            good = [client.post(srv.base + "/webhooks/rest/webhook", json={"sender": sid(), "message": "怎么查余额"})
                    for _ in range(10)]
            parse_bad = client.post(srv.base + "/model/parse", content=b'{"text": "hi\\udfff"}')
            return list(await asyncio.gather(bad, parse_bad, *good))

    for _ in range(2):
        bad, parse_bad, *good = asyncio.run(burst())
        assert bad.status_code == 400 and "surrogate" in bad.json()["message"]
        assert parse_bad.status_code == 400
        assert [r.status_code for r in good] == [200] * 10


def test_unencodable_text_is_400_everywhere(srv: BotServer) -> None:
    auth = login(srv.base, "li.na")
    for path, body in [("/agent/login", b'{"username": "li.na\\ud800", "password": "x"}'),
                       ("/agent/phrases", b'{"code": "/x", "text": "\\ud800"}'),
                       ("/agent/chats/1/messages", b'{"text": "hi\\u0007"}')]:
        r = httpx.post(srv.base + path, content=body, headers=auth)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert r.json()["status"] == "failure" and r.json()["code"] == 400


def test_former_500s_are_4xx(srv: BotServer) -> None:
    """Finding 7 and 11: deep JSON, huge integers, huge ids, odd agent ids, static paths, sender newline."""
    auth = login(srv.base, "li.na")
    big = 2**63
    cases = [
        ("POST", "/model/parse", b"[" * 5000 + b"]" * 5000, {}),
        ("POST", "/webhooks/rest/webhook", b'{"sender": "u1", "message": ' + b"7" * 5000 + b"}", {}),
        ("POST", "/webhooks/rest/webhook", json.dumps({"sender": "u1\n", "message": "hi"}).encode(), {}),
        ("POST", f"/agent/chats/{big}/pull", b"", auth),
        ("POST", f"/agent/chats/{big}/messages", b'{"text": "hi"}', auth),
        ("POST", f"/agent/tickets/{big}/done", b"", auth),
        ("POST", f"/agent/tickets/{10**30}/done", b"", auth),
        ("GET", f"/conversations/u1/messages?after={big}&token=x", b"", {}),
        # a non-ASCII token (the schemathesis run found compare_digest raising on it)
        ("GET", "/conversations/u1/messages?token=%C3%A9t%C3%A9", b"", {}),
        ("GET", "/conversations/u1/events?token=%E4%BB%A4%E7%89%8C", b"", {}),
        ("GET", "/handoffs", b"", {"authorization": b"Bearer \xe9t\xe9"}),
        ("POST", "/agent/status", b'{"status": ' + b"[" * 3000 + b"]" * 3000 + b"}", auth),
        ("GET", "/static/", b"", {}),
        ("GET", "/static/%00", b"", {}),
        ("GET", "/static/" + "a" * 4000, b"", {}),
        ("GET", "/guides/img/", b"", {}),
        ("GET", "/console/static/", b"", {}),
    ]
    for method, path, body, headers in cases:
        r = httpx.request(method, srv.base + path, content=body, headers=headers)
        assert 400 <= r.status_code < 500, (path[:60], r.status_code, r.text[:200])
    # a transfer to agent "²" (a digit for str.isdigit, not for int())
    sender = sid()
    httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=auth)
    httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"}, timeout=60)
    chat = wait_chat(srv.base, auth, sender)
    for target in ["²", [1], {"a": 1}, big, -1]:
        r = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/transfer", json={"to_agent": target}, headers=auth)
        assert 400 <= r.status_code < 500, (target, r.status_code, r.text)
    r = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/transfer", json={"to_skill": ["x"]}, headers=auth)
    assert r.status_code == 400
    httpx.post(f"{srv.base}/agent/chats/{chat['id']}/close", json={"disposition": "resolved"}, headers=auth)
    httpx.post(srv.base + "/agent/status", json={"status": "offline"}, headers=auth)
    log = (srv.data_dir / "server.log").read_text(errors="replace")
    assert "Traceback" not in log and "unhandled" not in log


def test_security_headers_everywhere(srv: BotServer) -> None:
    for path in ["/widget", "/static/widget.js", "/console", "/health", "/model/parse", "/no-such-page"]:
        r = httpx.get(srv.base + path)
        for h in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
            assert h in r.headers, (path, h)
        assert r.headers["x-content-type-options"] == "nosniff"
    r = httpx.post(srv.base + "/agent/login", json={"username": "li.na", "password": PASSWORDS["li.na"]})
    assert r.headers["cache-control"] == "no-store"
    r = httpx.post(srv.base + "/agent/login", json={"username": "li.na", "password": "wrong-one"})
    assert r.status_code == 401 and r.headers["cache-control"] == "no-store"


def test_login_lockout(srv: BotServer) -> None:
    """Finding 5: after 5 wrong passwords the account is locked, even for the right one (429 + Retry-After)."""
    codes = [httpx.post(srv.base + "/agent/login", json={"username": "wang.lei", "password": f"guess-{i}"}).status_code
             for i in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    r = httpx.post(srv.base + "/agent/login", json={"username": "wang.lei", "password": PASSWORDS["wang.lei"]})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # other accounts keep working
    login(srv.base, "zhao.min")


def test_ticket_ownership(srv: BotServer) -> None:
    """Finding 9: only the ticket's owner (or a supervisor) marks it done."""
    owner = login(srv.base, "li.na")
    httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=owner)
    sender = sid()
    httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"}, timeout=60)
    chat = wait_chat(srv.base, owner, sender)
    r = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/ticket", json={"kind": "callback", "note": "回电"},
                   headers=owner)
    tid = r.json()["ticket_id"]
    trainer_free_agent = login(srv.base, "chen.yu")
    assert httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=trainer_free_agent).status_code == 403
    super_ = login(srv.base, "zhao.min")
    # wang.lei is locked by the lockout test in some orders; use a supervisor for the allowed path
    assert httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=super_).status_code == 200
    assert httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=owner).status_code == 409
    httpx.post(f"{srv.base}/agent/chats/{chat['id']}/close", json={"disposition": "resolved"}, headers=owner)
    httpx.post(srv.base + "/agent/status", json={"status": "offline"}, headers=owner)


def test_other_agent_cannot_close_ticket(srv: BotServer, trained_model: Path, model_env: dict[str, str],
                                         tmp_path: Path) -> None:
    """An agent who is not the owner gets 403 (not the trainer's role check)."""
    owner = login(srv.base, "li.na")
    httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=owner)
    sender = sid()
    httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"}, timeout=60)
    chat = wait_chat(srv.base, owner, sender)
    tid = httpx.post(f"{srv.base}/agent/chats/{chat['id']}/ticket", json={"kind": "callback"},
                     headers=owner).json()["ticket_id"]
    # a second agent account, made with the CLI
    env = {**model_env, "BANKBOT_DATA_DIR": str(srv.data_dir), "BANKBOT_AGENT_PASSWORD": "other-agent-pw"}
    assert run_cli("agents", "add", "other.agent", "--role", "agent", env=env).returncode == 0
    r = httpx.post(srv.base + "/agent/login", json={"username": "other.agent", "password": "other-agent-pw"})
    other = {"authorization": f"Bearer {r.json()['token']}"}
    r = httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=other)
    assert r.status_code == 403 and "owner" in r.json()["message"]
    assert httpx.post(f"{srv.base}/agent/tickets/{tid}/done", headers=owner).status_code == 200
    httpx.post(f"{srv.base}/agent/chats/{chat['id']}/close", json={"disposition": "resolved"}, headers=owner)
    httpx.post(srv.base + "/agent/status", json={"status": "offline"}, headers=owner)


def test_database_files_are_owner_only(srv: BotServer) -> None:
    files = [f for f in srv.data_dir.iterdir() if f.name.startswith("bankbot.db")]
    assert files
    for f in files:
        assert f.stat().st_mode & 0o077 == 0, (f.name, oct(f.stat().st_mode))


def test_secure_defaults(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    """Finding 6: no demo agents without --demo; the stub OTP is announced; production refuses both."""
    plain = BotServer(trained_model, model_env, tmp_path, demo=False).start()
    try:
        r = httpx.post(plain.base + "/agent/login", json={"username": "zhao.min", "password": "demo-super-1"})
        assert r.status_code == 401
    finally:
        plain.stop()
    log = (tmp_path / "server.log").read_text()
    assert "STUB OTP" in log and "DEMO AGENTS" not in log
    env = {**model_env, "BANKBOT_DATA_DIR": str(tmp_path / "prod"), "BANKBOT_ENV": "production"}
    proc = run_cli("run", "--no-train", "--model", str(trained_model), "--port", "1", env=env, timeout=300)
    assert proc.returncode != 0 and b"OTP" in proc.stderr
    seeded = run_cli("agents", "seed-demo", env={**model_env, "BANKBOT_DATA_DIR": str(tmp_path / "seed")})
    assert seeded.returncode == 0 and b"WARNING" in seeded.stdout and b"zhao.min" in seeded.stdout



def test_demo_accounts_left_from_a_demo_start_are_locked(trained_model: Path, model_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """A database once started with --demo: a later plain start leaves no account with a published password."""
    demo = BotServer(trained_model, model_env, tmp_path, demo=True).start()
    try:
        r = httpx.post(demo.base + "/agent/login", json={"username": "li.na", "password": PASSWORDS["li.na"]})
        assert r.status_code == 200
        token = r.json()["token"]
    finally:
        demo.stop()
    # a real agent who happens to have a demo username but their own password keeps access
    from sqlalchemy import create_engine

    from handoff.store import HandoffStore, hash_password

    store = HandoffStore(create_engine(f"sqlite:///{tmp_path / 'bankbot.db'}"))
    wang = next(r for r in store.all_agents() if r.username == "wang.lei")
    store.set_agent(wang.id, password_hash=hash_password("wang-own-secret-9"))
    store.engine.dispose()
    plain = BotServer(trained_model, model_env, tmp_path, demo=False).start()
    try:
        for user, password in PASSWORDS.items():
            r = httpx.post(plain.base + "/agent/login", json={"username": user, "password": password})
            assert r.status_code == 401, user
        assert httpx.get(plain.base + "/agent/chats", headers={"authorization": f"Bearer {token}"}).status_code == 401
        r = httpx.post(plain.base + "/agent/login", json={"username": "wang.lei", "password": "wang-own-secret-9"})
        assert r.status_code == 200
    finally:
        plain.stop()
    assert "were locked" in (tmp_path / "server.log").read_text()


NUMBERS = {
    "card": "6222021234567890123",
    "card_spaced": "6222 0212 3456 7890 123",
    "card_dotted": "6222.0212.3456.7890.123",
    "card_full": "６２２２０２１２３４５６７８９０１２３",
    "card_cn": "六二二二零二一二三四五六七八九零一二三",
    "phone": "13812345678",
    "phone_cn": "幺三八一二三四五六七八",
    "id": "110101199003071234",
}
#: fragments that must never appear (the hidden middle of every number)
SECRETS = ["0212345678", "0212 3456", "0212.3456", "０２１２３４５６", "零二一二三四五六", "12345678", "1234567",
           "一二三四五六", "19900307", "482913", "4 8 2 9 1 3"]


def test_masking_everywhere(srv: BotServer) -> None:
    """Finding 8: a conversation full of numbers; then grep the database file, the log and every response."""
    base = srv.base
    sender = sid()
    responses: list[str] = []

    def keep(r: httpx.Response) -> httpx.Response:
        responses.append(r.text)
        return r

    def say(text: str, metadata: dict | None = None) -> list[dict]:
        body: dict = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        r = keep(httpx.post(base + "/webhooks/rest/webhook", json=body, timeout=60,
                            headers={"x-conversation-token": token}))
        assert r.status_code == 200, r.text
        return r.json()

    # development mode (no identity secret): the client names its demo customer, so the balance asks a code
    first = httpx.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": "你好",
                                                              "metadata": {"customer_id": "demo-1001"}}, timeout=60)
    token = first.headers["x-conversation-token"]
    prompt = say("/check_balance{\"card\": \"" + NUMBERS["card"] + "\", \"phone\": \"" + NUMBERS["phone"] + "\"}")
    assert any((m.get("custom") or {}).get("type") == "otp" for m in prompt), prompt
    say("4 8 2 9 1 3")  # the passcode, answered to the OTP prompt
    say("怎么查余额")
    for name, number in NUMBERS.items():
        say(f"我的{name}是{number}", metadata={"note": number, "nested": [{"n": number}]})
    say("/survey{\"score\": 2, \"reason\": \"卡号" + NUMBERS["card"] + "不对\"}")
    agent = login(base, "li.na")
    httpx.post(base + "/agent/status", json={"status": "online"}, headers=agent)
    say("转人工")
    chat = wait_chat(base, agent, sender)
    keep(httpx.post(f"{base}/agent/chats/{chat['id']}/ticket",
                    json={"kind": "callback", "note": "回电 " + NUMBERS["phone"] + " 卡 " + NUMBERS["card_dotted"]},
                    headers=agent))
    keep(httpx.post(f"{base}/agent/chats/{chat['id']}/transfer",
                    json={"to_skill": "general", "note": "客户卡号" + NUMBERS["card"]}, headers=agent))
    chat = wait_chat(base, agent, sender)
    api = {"authorization": f"Bearer {srv.token}"}
    for url, headers in [(f"/agent/chats/{chat['id']}/suggestions", agent), ("/agent/chats", agent),
                         ("/agent/queue", agent), (f"/conversations/{sender}/events", api), ("/handoffs", api),
                         (f"/conversations/{sender}/messages?token={token}", {})]:
        r = keep(httpx.get(base + url, headers=headers))
        assert r.status_code == 200, (url, r.text)
    sup = login(base, "zhao.min")
    keep(httpx.get(base + "/supervisor/report?format=json", headers=sup))
    keep(httpx.get(base + "/supervisor/overview", headers=sup))
    httpx.post(f"{base}/agent/chats/{chat['id']}/close", json={"disposition": "resolved"}, headers=agent)
    httpx.post(base + "/agent/status", json={"status": "offline"}, headers=agent)

    blobs = {"responses": "\n".join(responses), "log": (srv.data_dir / "server.log").read_text(errors="replace")}
    for f in srv.data_dir.iterdir():
        if f.name.startswith("bankbot.db"):
            blobs[f.name] = f.read_bytes().decode("utf-8", errors="replace")
    for where, blob in blobs.items():
        for secret in SECRETS:
            assert secret not in blob, (where, secret)
    assert "***" in blobs["responses"]


def test_message_rate_limits(srv: BotServer) -> None:
    """Abuse limits: one conversation can't flood the bot (REST 429 with Retry-After; websocket error frames)."""
    import websockets

    sender = sid()
    token = httpx.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": "你好"},
                       timeout=60).headers["x-conversation-token"]

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, headers={"x-conversation-token": token}) as client:
            return list(await asyncio.gather(*[
                client.post(srv.base + "/webhooks/rest/webhook", json={"sender": sender, "message": f"你好{i}"})
                for i in range(40)]))

    codes = [r.status_code for r in asyncio.run(flood())]
    assert codes.count(200) >= 15 and codes.count(429) >= 10 and set(codes) <= {200, 429}, codes
    limited = next(r for r in asyncio.run(flood()) if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1 and limited.json()["reason"] == "TooManyRequests"

    async def ws_flood() -> list[dict]:
        other = sid()
        async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender={other}") as ws:
            json.loads(await ws.recv())
            for i in range(40):
                await ws.send(json.dumps({"type": "message", "text": f"你好{i}"}))
            await ws.send(json.dumps({"type": "message", "text": "[" * 100}))
            frames = []
            while not any(f["type"] == "error" and "retry_after" in f for f in frames):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            await ws.send(json.dumps({"type": "ping"}))  # the socket stays usable
            while frames[-1]["type"] != "pong":
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            return frames

    frames = asyncio.run(ws_flood())
    assert any(f["type"] == "error" and "too many" in f["message"] for f in frames)


def test_conversations_need_their_token_or_identity(srv: BotServer) -> None:
    """Findings 1 and 2: no writing into someone else's chat; no pre-claiming over the websocket."""
    import websockets

    base = srv.base
    victim = sid()
    first = httpx.post(base + "/webhooks/rest/webhook", json={"sender": victim, "message": "你好"}, timeout=60)
    token = first.headers["x-conversation-token"]
    assert len(token) >= 32
    for headers in ({}, {"x-conversation-token": "0" * 32}, {"x-conversation-token": token[:-1] + "A"}):
        r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": victim, "message": "余额多少"}, headers=headers)
        assert r.status_code == 401, r.text
    ok = httpx.post(base + "/webhooks/rest/webhook", json={"sender": victim, "message": "谢谢"},
                    headers={"x-conversation-token": token}, timeout=60)
    assert ok.status_code == 200
    # the stored token is a hash, never the token itself
    db = b"".join(f.read_bytes() for f in srv.data_dir.iterdir() if f.name.startswith("bankbot.db"))
    assert token.encode() not in db
    # rotation: the old token stops working
    rot = httpx.post(f"{base}/conversations/{victim}/token", headers={"x-conversation-token": token})
    new = rot.json()["token"]
    assert rot.status_code == 200 and new != token
    assert httpx.get(f"{base}/conversations/{victim}/messages", headers={"x-conversation-token": token}
                     ).status_code == 401
    assert httpx.get(f"{base}/conversations/{victim}/messages", headers={"x-conversation-token": new}
                     ).status_code == 200

    async def pre_claim() -> tuple[dict, int]:
        future = sid()
        async with websockets.connect(f"{srv.ws_base}/webhooks/websocket?sender={future}") as ws:
            session = json.loads(await ws.recv())
        # the real customer arrives later over REST: the attacker's session is not theirs to write into,
        # and the attacker's token is random (not derived from the id)
        r = await asyncio.to_thread(httpx.post, base + "/webhooks/rest/webhook",
                                    json={"sender": future, "message": "你好"})
        return session, r.status_code

    session, status = asyncio.run(pre_claim())
    assert session["type"] == "session" and len(session["token"]) >= 32
    assert status == 401  # no reply of the real customer reaches the squatter: their messages are refused

    # visitors get a server-issued random id
    a = httpx.post(base + "/conversations").json()
    b = httpx.post(base + "/conversations").json()
    assert a["sender_id"].startswith("v-") and a["sender_id"] != b["sender_id"] and a["customer"] is False
    r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": a["sender_id"], "message": "你好"},
                   headers={"x-conversation-token": a["token"]}, timeout=60)
    assert r.status_code == 200
    # customer ids are reserved for a signed identity
    r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": "cust-12345", "message": "你好"})
    assert r.status_code in (400, 403)
    # the websocket takes the token in a first frame or a header, never in the URL (proxies log URLs)
    got = asyncio.run(_socket_auth(srv.ws_base, victim, new, token))
    assert got["url"][0]["type"] == "error" and "never in the URL" in got["url"][0]["message"]
    assert got["url"][1:] == (4400, "credentials in the URL")
    for how in ("frame", "header", "bearer"):
        assert got[how]["type"] == "session" and got[how]["sender"] == victim and "token" not in got[how], how
    assert got["frame_reply"]["type"] == "ack"
    assert got["wrong"][0]["type"] == "error" and got["wrong"][1] == 4401
    log = (srv.data_dir / "server.log").read_text(errors="replace")
    assert new not in log


async def _closed(ws) -> tuple[dict, int | None, str | None]:  # type: ignore[no-untyped-def]
    """The error frame of a refused socket, then its close code and reason."""
    import websockets

    err = json.loads(await asyncio.wait_for(ws.recv(), 30))
    try:
        await asyncio.wait_for(ws.recv(), 30)
    except websockets.ConnectionClosed as exc:
        return err, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else None
    return err, None, None


async def _socket_auth(ws_base: str, sender: str, token: str, old_token: str) -> dict[str, Any]:
    """Re-open ``sender``'s conversation over the websocket: token in the URL, in a first frame, in headers."""
    import websockets

    url = f"{ws_base}/webhooks/websocket?sender={sender}"
    out: dict[str, Any] = {}
    async with websockets.connect(url + f"&token={token}") as ws:
        out["url"] = await _closed(ws)
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await ws.send(json.dumps({"type": "message", "text": "你好", "message_id": "m-auth-frame"}))
        out["frame"] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        out["frame_reply"] = json.loads(await asyncio.wait_for(ws.recv(), 60))
    async with websockets.connect(url, additional_headers={"X-Conversation-Token": token}) as ws:
        out["header"] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        out["bearer"] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": old_token}))  # rotated out
        out["wrong"] = await _closed(ws)
    return out


def test_verified_customer_identity(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    """Signed identity (HMAC + expiry): the conversation is bound to it; visitors get no account features."""
    from bot.channels.auth import sign_identity

    secret = "s3cret-of-the-bank-app"
    srv = BotServer(trained_model, {**model_env, "BANKBOT_IDENTITY_SECRET": secret}, tmp_path).start()
    try:
        base = srv.base
        good = sign_identity(secret, "c1001", int(time.time()) + 600)
        expired = sign_identity(secret, "c1001", int(time.time()) - 5)
        forged = sign_identity("guess", "c1001", int(time.time()) + 600)
        # "²" is a digit for str.isdigit but not for int(); "é" in the signature is non-ASCII for compare_digest
        for bad in (expired, forged, "c1001.1.zz", "x" * 300, "c1001.²³.ab", good[:-1] + "é"):
            assert httpx.post(base + "/conversations", json={"identity": bad}).status_code == 401
        start = httpx.post(base + "/conversations", json={"identity": good}).json()
        assert start["sender_id"] == "cust-c1001" and start["customer"] is True
        msg = httpx.post(base + "/webhooks/rest/webhook", json={"sender": "cust-c1001", "message": "查一下我的余额"},
                         headers={"x-customer-identity": good}, timeout=60)
        assert msg.status_code == 200 and any((m.get("custom") or {}).get("type") == "otp" for m in msg.json())
        # another customer's identity does not open c1001's conversation
        other = sign_identity(secret, "c2002", int(time.time()) + 600)
        r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": "cust-c1001", "message": "余额"},
                       headers={"x-customer-identity": other})
        assert r.status_code == 403
        # a visitor asks for the balance: sign-in needed, no passcode offered
        v = httpx.post(base + "/conversations").json()
        r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": v["sender_id"], "message": "查一下我的余额"},
                       headers={"x-conversation-token": v["token"]}, timeout=60)
        assert r.status_code == 200
        assert not any((m.get("custom") or {}).get("type") == "otp" for m in r.json())
        assert any("登录" in (m.get("text") or "") for m in r.json())

        # over the websocket the identity goes in the first frame (never the URL); without it: refused
        async def socket_identity() -> tuple[dict, tuple]:
            import websockets

            url = f"{srv.ws_base}/webhooks/websocket?sender=cust-c1001"
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "auth", "identity": good}))
                session = json.loads(await asyncio.wait_for(ws.recv(), 30))
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "auth", "identity": other}))
                refused = await _closed(ws)
            return session, refused

        session, refused = asyncio.run(socket_identity())
        assert session["type"] == "session" and session["sender"] == "cust-c1001" and session["customer"] is True
        assert refused[1] == 4403
    finally:
        srv.stop()
