"""Starting a server for a benchmark: a free port, and waiting until it reports healthy."""

from __future__ import annotations

import socket
import subprocess
import time


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
