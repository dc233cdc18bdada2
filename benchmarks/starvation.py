"""Starvation benchmark (issue 12): a normal customer's latency alone, and while 3 clients keep sending
maximum-length (2,000-character) messages as fast as they can (run the server with the message limits
lifted to measure the parser's fairness itself). The normal customer sends one message every 0.5 s.
Usage: python benchmarks/starvation.py BASE_URL [seconds]."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

LONG = ("我想问一下我的信用卡账单为什么这个月多了一笔钱，还有我上个月的还款到底有没有到账，" * 60)[:1994]  # + a counter


async def customer(client: httpx.AsyncClient, base: str, name: str, text: str, stop: float, lat: list[float],
                   codes: list[int], pace: float = 0.0) -> None:
    token = None
    i = 0
    while time.time() < stop:
        headers = {"x-conversation-token": token} if token else {}
        t = time.perf_counter()
        r = await client.post(base + "/webhooks/rest/webhook", json={"sender": name, "message": text + str(i)},
                              headers=headers)
        if r.status_code == 200:
            lat.append(time.perf_counter() - t)
        codes.append(r.status_code)
        if pace:
            await asyncio.sleep(pace)
        token = token or r.headers.get("x-conversation-token")
        i += 1


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


async def main(base: str, seconds: float) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        alone: list[float] = []
        await customer(client, base, f"norm-a-{int(time.time())}", "怎么查余额", time.time() + seconds / 2,
                       alone, [], 0.5)
        normal: list[float] = []
        heavy: list[float] = []
        heavy_codes: list[int] = []
        stop = time.time() + seconds
        await asyncio.gather(
            customer(client, base, f"norm-b-{int(time.time())}", "怎么查余额", stop, normal, [], 0.5),
            *[customer(client, base, f"heavy-{k}-{int(time.time())}", LONG, stop, heavy, heavy_codes)
              for k in range(3)])
    return {"alone_p50_ms": round(p(alone, 0.5), 1), "alone_p99_ms": round(p(alone, 0.99), 1),
            "under_load_p50_ms": round(p(normal, 0.5), 1), "under_load_p99_ms": round(p(normal, 0.99), 1),
            "normal_requests": len(normal), "heavy_requests": len(heavy),
            "heavy_p50_ms": round(p(heavy, 0.5), 1), "heavy_429": heavy_codes.count(429),
            "slowdown_p99": round(p(normal, 0.99) / max(p(alone, 0.99), 1e-9), 2),
            "mean_normal_ms": round(statistics.mean(normal) * 1000, 1) if normal else 0}


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30))
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "starvation.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
