"""The tracker store and the handoff tables on a real PostgreSQL server (started by this test).

Needs Debian's ``postgresql`` package (``.ci/run`` installs it); skipped with a clear reason without it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import BotServer, free_port, post_message

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not BIN:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql); .ci/run installs it")
    pytest.importorskip("psycopg", reason="psycopg (pip) is not installed")
    bindir = BIN[-1]
    # not under pytest's tmp folder: that one is private to root and the server runs as `postgres`
    root = Path(tempfile.mkdtemp(prefix="bankbot-pg-"))
    data, sock = root / "data", root / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                                 f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "bankbot"]), check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bankbot"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_stores_on_postgres(pg_url: str) -> None:
    from bot.dialogue.store import TrackerStore
    from handoff.store import HandoffStore

    store = TrackerStore(pg_url)
    conv = store.load("pg-user")
    conv.state["language"] = "zh"
    ids = store.save_turn(conv, [("user", {"text": "查余额"}), ("bot", {"text": "好的"})])
    assert ids[1] > ids[0]
    again = TrackerStore(pg_url).load("pg-user")
    assert not again.is_new and again.state == {"language": "zh"}
    assert [e["text"] for e in store.events("pg-user")] == ["查余额", "好的"]
    hs = HandoffStore(store.engine)
    aid = hs.add_agent("pg.agent", "PG", "agent", "password-1", ["general"], 3)
    sid = hs.create_session("pg-user", "general", "high", "asked", {"priority": "high", "reason": "asked"})
    hs.set_session(sid, status="assigned", agent_id=aid)
    assert [r.id for r in hs.sessions_with("assigned", aid)] == [sid]
    assert hs.login("pg.agent", "password-1") is not None


def test_server_on_postgres_survives_restart(pg_url: str, trained_model: Path, model_env: dict[str, str],
                                             tmp_path: Path) -> None:
    srv = BotServer(trained_model, {**model_env, "BANKBOT_DATABASE_URL": pg_url}, tmp_path).start()
    sender = "pg-" + uuid.uuid4().hex[:8]
    try:
        post_message(srv.base, sender, "怎么修改登录密码")
        srv.kill()
        srv.start()
        out = post_message(srv.base, sender, "转人工").json()
        assert any((m.get("custom") or {}).get("type") == "handoff" for m in out)
        events = httpx.get(f"{srv.base}/conversations/{sender}/events",
                           headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
        assert [e["text"] for e in events if e["type"] == "user"] == ["怎么修改登录密码", "转人工"]
        assert any(e["type"] == "handoff" and "reset_password" in e["context"]["guides_shown"] for e in events)
    finally:
        srv.stop()
