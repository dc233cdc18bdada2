"""Load benchmark: start a real ``bankbot run`` and drive concurrent REST and websocket customers.

    python benchmarks/load.py [--model NAME] [--rest 8] [--ws 8] [--messages 20] [--handoffs 10] [--seconds 120]

Loopback only, bounded in count and time. Prints JSON: messages/s, p50/p99 latency for REST and
websocket turns, handoff-to-console latency (customer asks for a person -> the agent's console gets
``chat_assigned``), the server's RSS, and its start time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procfs import rss_mb  # benchmarks/procfs.py (the scripts run from this folder)
from serving import free_port, wait_healthy  # benchmarks/serving.py

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ["你好", "怎么修改登录密码", "信用卡账单多少", "积分能换什么", "how do I activate my card",
            "现在美元汇率多少", "我的卡丢了", "转账手续费怎么收", "有什么优惠活动", "谢谢", "what's my credit limit",
            "网点几点关门"]


def _rss_mb(pid: int) -> float:
    return round(rss_mb(pid), 1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


async def rest_customer(base: str, n: int, deadline: float, lat: list[float]) -> None:
    """One REST customer sending ``n`` messages one after the other."""
    import httpx

    sender = f"load-rest-{random.getrandbits(40):x}"
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(n):
            if time.time() > deadline:
                return
            t = time.perf_counter()
            r = await client.post(base + "/webhooks/rest/webhook",
                                  json={"sender": sender, "message": random.choice(MESSAGES)})
            r.raise_for_status()
            if r.headers.get("x-conversation-token"):  # later messages carry the conversation's token
                client.headers["x-conversation-token"] = r.headers["x-conversation-token"]
            lat.append(time.perf_counter() - t)


async def ws_customer(ws_base: str, n: int, deadline: float, lat: list[float]) -> None:
    """One websocket customer: send, wait for the ack and the first bot frame, repeat."""
    import websockets

    sender = f"load-ws-{random.getrandbits(40):x}"
    async with websockets.connect(f"{ws_base}/webhooks/websocket?sender={sender}") as ws:
        await ws.recv()  # session frame
        for _ in range(n):
            if time.time() > deadline:
                return
            t = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "text": random.choice(MESSAGES)}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame["type"] == "bot":
                    lat.append(time.perf_counter() - t)
                    break
            # drain the rest of this turn's frames without blocking the next message for long
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 0.05)
            except TimeoutError:
                pass


async def handoffs(base: str, ws_base: str, count: int, deadline: float, lat: list[float]) -> None:
    """An agent online in the console; customers ask for a person; time until ``chat_assigned``."""
    import httpx
    import websockets

    async with httpx.AsyncClient(timeout=30) as client:
        token = (await client.post(base + "/agent/login", json={"username": "li.na", "password": "demo-agent-1"})
                 ).json()["token"]
        auth = {"authorization": f"Bearer {token}"}
        await client.post(base + "/agent/status", json={"status": "online"}, headers=auth)
        async with websockets.connect(f"{ws_base}/agent/ws", additional_headers=auth) as agent:
            for i in range(count):
                if time.time() > deadline:
                    return
                sender = f"load-ho-{i}-{random.getrandbits(32):x}"
                t = time.perf_counter()
                await client.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"})
                while True:
                    frame = json.loads(await asyncio.wait_for(agent.recv(), 30))
                    if frame["type"] == "chat_assigned" and frame["chat"]["sender_id"] == sender:
                        lat.append(time.perf_counter() - t)
                        break
                await client.post(f"{base}/agent/chats/{frame['chat']['id']}/close",
                                  json={"disposition": "resolved"}, headers=auth)


def main() -> int:
    """Run the benchmark and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="latest")
    ap.add_argument("--rest", type=int, default=8, help="concurrent REST customers")
    ap.add_argument("--ws", type=int, default=8, help="concurrent websocket customers")
    ap.add_argument("--messages", type=int, default=20, help="messages per customer")
    ap.add_argument("--handoffs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120, help="hard time limit of the load phase")
    args = ap.parse_args()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bankbot-load-")
    env = {**os.environ, "BANKBOT_DATA_DIR": data_dir}
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", args.model,
                             "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/health", limit=120, proc=proc)
        start_seconds = time.time() - started
        rss_idle = _rss_mb(proc.pid)
        rest_lat: list[float] = []
        ws_lat: list[float] = []
        ho_lat: list[float] = []

        async def load() -> float:
            deadline = time.time() + args.seconds
            t = time.perf_counter()
            await asyncio.gather(*[rest_customer(base, args.messages, deadline, rest_lat) for _ in range(args.rest)],
                                 *[ws_customer(ws_base, args.messages, deadline, ws_lat) for _ in range(args.ws)])
            elapsed = time.perf_counter() - t
            await handoffs(base, ws_base, args.handoffs, deadline + 30, ho_lat)
            return elapsed

        elapsed = asyncio.run(load())
        total = len(rest_lat) + len(ws_lat)
        print(json.dumps({
            "model": args.model, "server_start_seconds": round(start_seconds, 2),
            "customers": {"rest": args.rest, "websocket": args.ws}, "messages": total,
            "messages_per_second": round(total / elapsed, 1),
            "rest_ms_p50": _pct(rest_lat, 0.5), "rest_ms_p99": _pct(rest_lat, 0.99),
            "ws_ms_p50": _pct(ws_lat, 0.5), "ws_ms_p99": _pct(ws_lat, 0.99),
            "handoff_to_console_ms_p50": _pct(ho_lat, 0.5), "handoff_to_console_ms_max": _pct(ho_lat, 1.0),
            "rss_mb_idle": rss_idle, "rss_mb_after": _rss_mb(proc.pid),
        }, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
