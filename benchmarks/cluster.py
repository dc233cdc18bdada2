"""Scale-out benchmark: 1 vs 2 bankbot instances on shared PostgreSQL + Redis (all started here, loopback).

    python benchmarks/cluster.py --model PATH [--requests 300] [--concurrency 16] [--handoffs 30]
                                 [--connections 1000] [--hold 60] [--senders 20] [--out FILE]

1. REST throughput and p99 with 1 instance, then 2 instances (the client spreads requests round robin,
   as a sticky-free balancer would), as a ratio in one run.
2. Handoff -> agent console latency with the customer's websocket on instance A and the agent's console
   on instance B (p50, p99).
3. ``--connections`` websockets spread over the 2 instances, held ``--hold`` seconds while ``--senders`` of
   them keep sending: RSS growth per connection and the senders' p99 message -> reply latency.
Needs ``redis-server`` and PostgreSQL (``/usr/lib/postgresql/*/bin``). Prints JSON (and writes ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from procfs import rss_mb  # benchmarks/procfs.py (the scripts run from this folder)
from serving import NO_RATE_LIMITS

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ["你好", "怎么修改登录密码", "信用卡账单多少", "积分能换什么", "how do I activate my card",
            "现在美元汇率多少", "转账手续费怎么收", "有什么优惠活动", "谢谢", "网点几点关门"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 1)


def _wait(url: str, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


class Infra:
    """redis-server, a PostgreSQL cluster and bankbot instances, all in a temporary folder."""

    def __init__(self, model: str) -> None:
        """Nothing starts until :meth:`start`."""
        self.model = model
        self.root = Path(tempfile.mkdtemp(prefix="bankbot-cluster-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.token = "bench-" + uuid.uuid4().hex

    def _pg(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def start(self) -> None:
        """Start Redis and PostgreSQL."""
        rport, self.pg_port = _port(), _port()
        self.procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                                           stdout=subprocess.DEVNULL))
        self.redis_url = f"redis://127.0.0.1:{rport}/0"
        self.bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        data = self.root / "pg"
        data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run(self._pg([f"{self.bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]),
                       check=True, capture_output=True)
        subprocess.run(self._pg([f"{self.bindir}/pg_ctl", "-D", str(data), "-l", str(self.root / "pg.log"), "-w",
                                 "-o", f"-p {self.pg_port} -k {self.root} -c listen_addresses=127.0.0.1 "
                                 "-c max_connections=300", "start"]), check=True, capture_output=True)
        subprocess.run(self._pg([f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                                 "postgres", "bankbot"]), check=True, capture_output=True)
        self.pg_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/bankbot"

    def bot(self, name: str) -> tuple[str, subprocess.Popen[bytes]]:
        """Start one bankbot instance; returns its base URL and process."""
        port = _port()
        env = {**os.environ, "BANKBOT_DATABASE_URL": self.pg_url, "BANKBOT_REDIS_URL": self.redis_url,
               "BANKBOT_API_TOKEN": self.token, "BANKBOT_INSTANCE_ID": name, "BANKBOT_MIGRATE_ON_START": "always",
               "BANKBOT_DATA_DIR": str(self.root / name), **NO_RATE_LIMITS, "TOKENIZERS_PARALLELISM": "false"}
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", self.model,
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/health")
        return base, proc

    def stop(self) -> None:
        """Stop everything and remove the folder."""
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(self._pg([f"{self.bindir}/pg_ctl", "-D", str(self.root / "pg"), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


async def rest_load(bases: list[str], requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` webhook calls, ``concurrency`` at a time, spread round robin over ``bases``."""
    import httpx

    lat: list[float] = []
    errors = 0
    counter = iter(range(requests))
    async with httpx.AsyncClient(timeout=120) as client:
        async def worker(w: int) -> None:
            nonlocal errors
            sender = f"r{w}-{uuid.uuid4().hex[:6]}"
            headers: dict[str, str] = {}
            for i in counter:
                t0 = time.perf_counter()
                r = await client.post(bases[i % len(bases)] + "/webhooks/rest/webhook", headers=headers,
                                      json={"sender": sender, "message": MESSAGES[i % len(MESSAGES)]})
                lat.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                if r.headers.get("x-conversation-token"):  # later turns carry the conversation's token
                    headers = {"x-conversation-token": r.headers["x-conversation-token"]}

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"requests": requests, "rps": round(requests / wall, 1), "p50_ms": _pct(lat, 0.5),
            "p99_ms": _pct(lat, 0.99), "errors": errors}


async def handoff_latency(a: str, b: str, pg_url: str, n: int) -> dict[str, float]:
    """Customer on A asks for a person; time until the agent's console on B gets ``chat_assigned``."""
    import httpx
    import websockets

    from bot.db import make_engine
    from handoff.store import HandoffStore

    user = "bench" + uuid.uuid4().hex[:6]
    HandoffStore(make_engine(pg_url)).add_agent(user, user, "agent", "pw-" + user, ["general"], 5)
    auth = {"authorization": "Bearer " + httpx.post(b + "/agent/login", json={"username": user,
                                                                            "password": "pw-" + user}).json()["token"]}
    httpx.post(b + "/agent/status", json={"status": "online"}, headers=auth)
    lat: list[float] = []
    async with websockets.connect(b.replace("http", "ws") + "/agent/ws", additional_headers=auth) as agent:
        for _ in range(n):
            sender = "h-" + uuid.uuid4().hex[:10]
            async with websockets.connect(a.replace("http", "ws") + f"/webhooks/websocket?sender={sender}") as cust:
                await cust.recv()
                t0 = time.perf_counter()
                await cust.send(json.dumps({"type": "message", "text": "转人工"}))
                while True:
                    f = json.loads(await asyncio.wait_for(agent.recv(), 30))
                    if f["type"] == "chat_assigned" and f["chat"]["sender_id"] == sender:
                        lat.append(time.perf_counter() - t0)
                        chat_id = f["chat"]["id"]
                        break
                async with httpx.AsyncClient() as client:
                    await client.post(f"{b}/agent/chats/{chat_id}/close", json={"disposition": "resolved"},
                                      headers=auth)
    return {"handoffs": n, "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99)}


async def many_sockets(bases: list[str], procs: list[subprocess.Popen[bytes]], connections: int, hold: float,
                       senders: int) -> dict[str, float]:
    """Open ``connections`` websockets over the instances, hold them, ``senders`` of them chat meanwhile."""
    import websockets

    before = sum(rss_mb(p.pid) for p in procs)
    socks = []
    for i in range(connections):
        base = bases[i % len(bases)].replace("http", "ws")
        ws = await websockets.connect(f"{base}/webhooks/websocket?sender=m-{i}-{uuid.uuid4().hex[:6]}",
                                      open_timeout=60, ping_interval=None)
        await ws.recv()
        socks.append(ws)
    opened = sum(rss_mb(p.pid) for p in procs)
    lat: list[float] = []
    stop = time.monotonic() + hold

    async def sender(ws: websockets.ClientConnection, k: int) -> None:
        i = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "text": MESSAGES[(k + i) % len(MESSAGES)]}))
            while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "bot":
                pass
            while True:  # the rest of this turn's replies
                try:
                    await asyncio.wait_for(ws.recv(), 0.05)
                except TimeoutError:
                    break
            lat.append(time.perf_counter() - t0)
            i += 1
            await asyncio.sleep(1.0)

    await asyncio.gather(*(sender(socks[k * (connections // senders)], k) for k in range(senders)))
    after = sum(rss_mb(p.pid) for p in procs)
    for ws in socks:
        await ws.close()
    return {"connections": connections, "hold_s": hold, "senders": senders, "messages": len(lat),
            "rss_before_mb": round(before, 1), "rss_open_mb": round(opened, 1), "rss_end_mb": round(after, 1),
            "kb_per_connection": round((opened - before) * 1024 / connections, 1),
            "sender_p50_ms": _pct(lat, 0.5), "sender_p99_ms": _pct(lat, 0.99)}


def main() -> None:
    """Run the three measurements."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--handoffs", type=int, default=30)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--hold", type=float, default=60)
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--out")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    infra = Infra(args.model)
    out: dict[str, object] = {"cpu_count": os.cpu_count()}
    try:
        infra.start()
        a, pa = infra.bot("A")
        asyncio.run(rest_load([a], 40, 4))  # warm-up
        one = asyncio.run(rest_load([a], args.requests, args.concurrency))
        b, pb = infra.bot("B")
        asyncio.run(rest_load([b], 40, 4))
        two = asyncio.run(rest_load([a, b], args.requests, args.concurrency))
        out["rest"] = {"one_instance": one, "two_instances": two, "throughput_ratio": round(two["rps"] / one["rps"], 2)}
        out["handoff_cross_instance"] = asyncio.run(handoff_latency(a, b, infra.pg_url, args.handoffs))
        out["websockets"] = asyncio.run(many_sockets([a, b], [pa, pb], args.connections, args.hold, args.senders))
    finally:
        infra.stop()
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
