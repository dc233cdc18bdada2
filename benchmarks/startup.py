"""Start-up benchmark: how long until ready, and how fast the first customer is served after a start.

    python benchmarks/startup.py [--model NAME] [--messages 40] [--runs 2] [--no-warm-up-too] [--browser]

Starts a real ``bankbot run`` (loopback only, bounded), then measures, in one run:

- ``ready_seconds``: process start until ``/health`` answers (the warm-up happens before that);
- ``first_message_ms``: the first REST message after ready (a realistic how-to question);
- ``steady_ms_p50`` / ``_p99``: the next ``--messages`` sequential messages;
- ``handoff_to_console_ms``: a customer asks for a person -> the online agent's console socket gets
  ``chat_assigned`` (the first handoff after the start, then the p50 of a few more);
- with ``--browser``: the same arrival seen in the agent console page in headless Chromium
  (``console_arrival_ms``), the check that used to be a wall-clock assertion in the browser test.

By default it measures the server twice, with the warm-up on and off (``BANKBOT_WARM_UP=false``), so the
cold-start cost the warm-up removes is visible as a ratio in one run. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import free_port, wait_healthy  # benchmarks/serving.py (the scripts run from this folder)

ROOT = Path(__file__).resolve().parents[1]
FIRST = "怎么修改登录密码"
STEADY = ["查一下余额", "信用卡账单多少", "积分能换什么", "how do I activate my card", "转账手续费怎么收",
          "有什么优惠活动", "what's my credit limit", "网点几点关门"]
AGENT, PASSWORD = "bench.agent", "bench-" + os.urandom(6).hex()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return _ms(values[min(len(values) - 1, int(q * len(values)))])


async def _handoff(base: str, ws_base: str, token: str, count: int) -> list[float]:
    """Time from "转人工" to ``chat_assigned`` on the agent's socket, ``count`` times."""
    import httpx
    import websockets

    out: list[float] = []
    auth = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as client, \
            websockets.connect(f"{ws_base}/agent/ws", additional_headers=auth) as agent:
        for i in range(count):
            sender = f"bench-ho-{i}-{os.urandom(4).hex()}"
            t = time.perf_counter()
            await client.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"})
            while True:
                frame = json.loads(await asyncio.wait_for(agent.recv(), 60))
                if frame["type"] == "chat_assigned" and frame["chat"]["sender_id"] == sender:
                    out.append(time.perf_counter() - t)
                    break
            await client.post(f"{base}/agent/chats/{frame['chat']['id']}/close", json={"disposition": "resolved"},
                              headers=auth)
    return out


def _browser_arrival(base: str) -> float | None:
    """Seconds from a customer's "转人工" to the chat being visible in the agent console page."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    import httpx

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(base + "/console")
            page.fill("#username", AGENT)
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#status-select")
            page.select_option("#status-select", "online")
            page.wait_for_selector("body[data-conn=open]", state="attached")
            time.sleep(0.5)  # benchmark only: let the console settle before the stopwatch starts
            sender = f"bench-browser-{os.urandom(4).hex()}"
            t = time.perf_counter()
            httpx.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": "转人工"}, timeout=60)
            page.wait_for_selector(".chat-card, .chat-item, [data-chat-id]")
            return time.perf_counter() - t
        finally:
            browser.close()


def measure(model: str, messages: int, warm_up: bool, browser: bool) -> dict[str, object]:
    """One server start with the warm-up on or off."""
    import httpx

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bankbot-startup-")
    env = {**os.environ, "BANKBOT_DATA_DIR": data_dir, "BANKBOT_WARM_UP": "true" if warm_up else "false",
           "BENCH_AGENT_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "bot", "agents", "add", AGENT, "--name", "Bench", "--password-env",
                    "BENCH_AGENT_PASSWORD", "--skills", "consultation,inquiry,operation,value_added"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", model, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/health", limit=180, proc=proc, interval=0.05)
        ready = time.perf_counter() - started
        with httpx.Client(timeout=60) as client:
            t = time.perf_counter()
            client.post(base + "/webhooks/rest/webhook", json={"sender": "bench-first", "message": FIRST})
            first = time.perf_counter() - t
            steady: list[float] = []
            for i in range(messages):
                t = time.perf_counter()
                client.post(base + "/webhooks/rest/webhook",
                            json={"sender": f"bench-steady-{i}", "message": STEADY[i % len(STEADY)]})
                steady.append(time.perf_counter() - t)
            token = client.post(base + "/agent/login", json={"username": AGENT, "password": PASSWORD}).json()["token"]
            client.post(base + "/agent/status", json={"status": "online"},
                        headers={"authorization": f"Bearer {token}"})
        handoffs = asyncio.run(_handoff(base, ws_base, token, 6))
        result: dict[str, object] = {
            "warm_up": warm_up, "ready_seconds": round(ready, 2), "first_message_ms": _ms(first),
            "steady_ms_p50": _pct(steady, 0.5), "steady_ms_p99": _pct(steady, 0.99),
            "first_over_steady_p50": round(first / statistics.median(steady), 2) if steady else None,
            "handoff_to_console_ms_first": _ms(handoffs[0]),
            "handoff_to_console_ms_p50": _pct(handoffs[1:], 0.5),
        }
        if browser:
            arrival = _browser_arrival(base)
            result["console_arrival_ms"] = _ms(arrival) if arrival is not None else None
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    """Run the benchmark and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="latest")
    ap.add_argument("--messages", type=int, default=40, help="steady-state messages after the first")
    ap.add_argument("--no-warm-up-too", action="store_true", help="only measure with the warm-up on")
    ap.add_argument("--browser", action="store_true", help="also time the chat's arrival in the console page")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    runs = [measure(args.model, args.messages, True, args.browser)]
    if not args.no_warm_up_too:
        runs.append(measure(args.model, args.messages, False, False))
    report = {"nproc": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "runs": runs}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
