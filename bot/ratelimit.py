"""Abuse limits: a per-client token bucket and a login guard with lockout and exponential backoff.

Both keep their state in memory (one server process); the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class RateLimited(Exception):
    """Too many requests; ``retry_after`` is how long the client should wait (seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        """``retry_after`` goes to the ``Retry-After`` header."""
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """``rate`` requests per second per key, bursts of up to ``burst``."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def hit(self, key: str, what: str = "requests") -> None:
        """Take one token for ``key`` or raise :class:`RateLimited`."""
        now = self.clock()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_keys:  # forget idle clients first
                self._buckets = {k: v for k, v in self._buckets.items() if now - v.stamp < self.burst / self.rate}
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        if b.tokens < 1.0:
            raise RateLimited(f"too many {what}; slow down and retry in a moment", (1.0 - b.tokens) / self.rate)
        b.tokens -= 1.0


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class LoginGuard:
    """Lockout after repeated wrong passwords, per username and per client, doubling with every failure.

    A username is locked after ``user_free`` failures in a row, a client address after ``client_free``
    (higher: many people may share one address). Each further failure doubles the lock, up to ``max_lock_s``.
    """

    user_free: int = 5
    client_free: int = 20
    base_lock_s: float = 30.0
    max_lock_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, _Failures] = field(default_factory=dict)

    def check(self, username: str, client: str) -> None:
        """Raise :class:`RateLimited` while the username or the client is locked."""
        now = self.clock()
        waits = [s.locked_until - now for k in (f"user:{username.casefold()}", f"ip:{client}")
                 if (s := self._state.get(k)) and s.locked_until > now]
        if waits:
            raise RateLimited("too many failed logins; this account or client is locked for a while", max(waits))

    def failed(self, username: str, client: str) -> None:
        """Count a wrong password; lock what is over its free failures."""
        now = self.clock()
        for key, free in ((f"user:{username.casefold()}", self.user_free), (f"ip:{client}", self.client_free)):
            s = self._state.setdefault(key, _Failures())
            s.count += 1
            over = s.count - free
            if over >= 0:
                s.locked_until = now + min(self.max_lock_s, self.base_lock_s * 2 ** min(over, 20))
        if len(self._state) > 100_000:  # forget unlocked entries
            self._state = {k: v for k, v in self._state.items() if v.locked_until > now}

    def succeeded(self, username: str) -> None:
        """A correct password clears the username's failures (not the client's)."""
        self._state.pop(f"user:{username.casefold()}", None)
