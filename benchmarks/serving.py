"""Starting a server for a benchmark: a free port, lifted rate limits, and waiting until it reports healthy."""

from __future__ import annotations

import socket
import subprocess
import time

#: settings for a bankbot server under a load generator (one client sending as fast as it can): the per-client
#: and per-conversation rate limits are lifted, so the benchmark measures the server and not the limiter
NO_RATE_LIMITS = {"BANKBOT_CLIENT_RATE": "100000", "BANKBOT_CLIENT_BURST": "100000", "BANKBOT_MESSAGE_RATE": "1000",
                  "BANKBOT_MESSAGE_BURST": "1000"}


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, limit: float = 300, proc: subprocess.Popen[bytes] | None = None,
                 interval: float = 0.1) -> float:
    """Seconds until ``url`` (e.g. ``http://127.0.0.1:5005/health``) answers 200.

    Raises ``TimeoutError`` after ``limit`` seconds, or ``RuntimeError`` as soon as ``proc`` has exited.
    """
    import httpx

    started = time.perf_counter()
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before {url} answered")
        if time.perf_counter() - started > limit:
            raise TimeoutError(f"{url} did not answer within {limit:.0f} s")
        time.sleep(interval)
