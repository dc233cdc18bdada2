"""Several bankbot instances as one, over Redis (only when ``BANKBOT_REDIS_URL`` is set).

- :class:`RedisHub`: every push to a customer (bot replies, agent messages, queue updates, the survey) is
  published on ``bankbot:customer``; each instance delivers it to the sockets it holds. Agent console frames
  go the same way on ``bankbot:agent``.
- :meth:`Cluster.lock`: a per-conversation lock across instances (a Redis lock, as Rasa's ``RedisLockStore``),
  so that turns of one conversation are processed one after the other wherever they arrive.
- :class:`RedisPresence`: agent consoles are kept in ``bankbot:presence:<agent>`` (instance -> expiry,
  refreshed by heartbeats). When an agent's last console closes, or their instance dies and its heartbeats
  stop, a grace deadline goes into ``bankbot:grace``. Any instance's sweeper re-queues the agent's chats when
  the deadline passes and no console came back. The deadlines live in Redis, so they survive restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from handoff.queue import AgentListener, HandoffService

from .channels.hub import SocketHub

log = logging.getLogger("bankbot.cluster")
CUSTOMER_CHANNEL = "bankbot:customer"
AGENT_CHANNEL = "bankbot:agent"
GRACE_KEY = "bankbot:grace"
SEEN_KEY = "bankbot:presence:seen"
#: seconds a conversation lock outlives its holder (renewed while the turn runs)
LOCK_TTL = 6.0


def presence_key(agent_id: int) -> str:
    """Sorted set of the agent's live consoles: member = instance, score = heartbeat expiry."""
    return f"bankbot:presence:{agent_id}"


class RedisHub(SocketHub):
    """A socket hub whose pushes reach the customer's socket on whichever instance holds it."""

    def __init__(self, redis: aioredis.Redis) -> None:
        """Publish through ``redis``; :class:`Cluster` delivers what arrives."""
        super().__init__()
        self.redis = redis

    async def send_frame(self, sender_id: str, frame: dict[str, Any]) -> None:
        """Publish; every instance (this one too) delivers to its own sockets."""
        await self.redis.publish(CUSTOMER_CHANNEL, json.dumps({"s": sender_id, "f": frame}, ensure_ascii=False))


class RedisPresence:
    """Agent consoles, heartbeats and disconnect grace deadlines in Redis (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis, instance: str, service: HandoffService, ttl: float = 6.0) -> None:
        """``ttl``: seconds a heartbeat keeps a console alive (refreshed every ``ttl / 3``)."""
        self.redis, self.instance, self.service, self.ttl = redis, instance, service, ttl
        self.local: dict[int, int] = {}  # agent id -> consoles open on this instance
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def grace(self) -> float:
        """The disconnect grace period (routing config)."""
        return self.service.config.disconnect_grace_seconds

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connected(self, agent_id: int) -> None:
        """A console opened here: the agent is present, any grace deadline is cancelled."""
        self.local[agent_id] = self.local.get(agent_id, 0) + 1
        self._spawn(self._connected(agent_id))

    async def _connected(self, agent_id: int) -> None:
        pipe = self.redis.pipeline()
        pipe.zadd(presence_key(agent_id), {self.instance: time.time() + self.ttl})
        pipe.zrem(GRACE_KEY, str(agent_id))
        pipe.sadd(SEEN_KEY, str(agent_id))
        await pipe.execute()

    def disconnected(self, agent_id: int, still_connected: bool) -> None:
        """A console closed here; with none left here, this instance no longer vouches for the agent."""
        left = max(self.local.get(agent_id, 1) - 1, 0)
        if left:
            self.local[agent_id] = left
            return
        self.local.pop(agent_id, None)
        self._spawn(self._disconnected(agent_id))

    async def _disconnected(self, agent_id: int) -> None:
        await self.redis.zrem(presence_key(agent_id), self.instance)
        if not await self._alive(agent_id):
            await self.redis.zadd(GRACE_KEY, {str(agent_id): time.time() + self.grace}, nx=True)

    async def _alive(self, agent_id: int) -> bool:
        return int(await self.redis.zcount(presence_key(agent_id), time.time(), "+inf")) > 0

    async def heartbeat(self) -> None:
        """Refresh this instance's consoles."""
        if not self.local:
            return
        pipe = self.redis.pipeline()
        expiry = time.time() + self.ttl
        for agent_id in self.local:
            pipe.zadd(presence_key(agent_id), {self.instance: expiry})
        await pipe.execute()

    async def sweep(self) -> list[int]:
        """Start grace periods of agents whose consoles vanished; re-queue those whose grace has passed."""
        now = time.time()
        for raw in await self.redis.smembers(SEEN_KEY):
            agent_id = int(raw)
            if not await self._alive(agent_id):
                await self.redis.zadd(GRACE_KEY, {str(agent_id): now + self.grace}, nx=True)
        requeued = []
        due_ids: list[Any] = list(await self.redis.zrangebyscore(GRACE_KEY, "-inf", now))
        for due in due_ids:
            agent_id = int(due)
            if await self._alive(agent_id):
                await self.redis.zrem(GRACE_KEY, due)
                continue
            if not await self.redis.zrem(GRACE_KEY, due):
                continue  # another instance took it
            await self.redis.srem(SEEN_KEY, due)
            row = self.service.store.agent(agent_id)
            if row is not None and row.status == "online":
                self.service.store.set_agent(agent_id, status="offline")
                n = await self.service.requeue_agent(agent_id)
                log.info("agent %s absent after the grace period: offline, %d chats re-queued", agent_id, n)
                requeued.append(agent_id)
        return requeued

    async def live_agents(self) -> int:
        """Agents with a live console on any instance."""
        now = time.time()
        return sum([1 for raw in await self.redis.smembers(SEEN_KEY)
                    if int(await self.redis.zcount(presence_key(int(raw)), now, "+inf")) > 0])


class Cluster:
    """Redis wiring of one instance: hub, agent fan-out, conversation locks, presence."""

    def __init__(self, url: str, instance: str, service: HandoffService) -> None:
        """Connect lazily to ``url``; ``instance`` names this process in the presence sets."""
        self.redis: aioredis.Redis = aioredis.from_url(url)
        self.instance = instance
        self.service = service
        self.hub = RedisHub(self.redis)
        self.presence = RedisPresence(self.redis, instance, service)
        self._local_agent: AgentListener | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._local_locks: dict[str, asyncio.Lock] = {}

    def wire(self) -> None:
        """Take over agent pushes and presence of the handoff service (call after its blueprint exists)."""
        self._local_agent = self.service.notify_agent
        self.service.notify_agent = self.notify_agent
        self.service.presence = self.presence

    async def notify_agent(self, agent_id: int, frame: dict[str, Any]) -> None:
        """Publish an agent console frame; the instance holding the console delivers it."""
        await self.redis.publish(AGENT_CHANNEL, json.dumps({"a": agent_id, "f": frame}, ensure_ascii=False))

    @contextlib.asynccontextmanager
    async def lock(self, sender_id: str) -> AsyncIterator[None]:
        """Hold the conversation across instances (a local lock first, so one process queues politely)."""
        local = self._local_locks.setdefault(sender_id, asyncio.Lock())
        async with local:
            lock = self.redis.lock(f"bankbot:lock:{sender_id}", timeout=LOCK_TTL, sleep=0.005, blocking_timeout=120)
            if not await lock.acquire():
                raise TimeoutError(f"conversation {sender_id} stayed locked")

            async def keep() -> None:  # a long turn keeps its lock; a dead instance's lock expires in LOCK_TTL
                while True:
                    await asyncio.sleep(LOCK_TTL / 3)
                    await lock.reacquire()

            keeper = asyncio.create_task(keep())
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(Exception):
                    await lock.release()

    async def start(self) -> None:
        """Subscribe and start the heartbeat/sweeper task (after the server's loop is running)."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(CUSTOMER_CHANNEL, AGENT_CHANNEL)
        self._tasks = [asyncio.create_task(self._listen(pubsub)), asyncio.create_task(self._tick())]

    async def stop(self) -> None:
        """Cancel the background tasks and close the connections."""
        for t in self._tasks:
            t.cancel()
        await self.redis.aclose()

    async def ping(self) -> bool:
        """Redis answers."""
        try:
            return bool(await self.redis.ping())
        except Exception:  # noqa: BLE001 - readiness: any failure means not ready
            return False

    async def _listen(self, pubsub: Any) -> None:
        while True:
            try:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None:
                    continue
                data = json.loads(msg["data"])
                channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
                if channel == CUSTOMER_CHANNEL:
                    await self.hub.deliver_local(data["s"], data["f"])
                elif self._local_agent is not None:
                    await self._local_agent(int(data["a"]), data["f"])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep listening; the messages are stored anyway
                log.exception("redis fan-out: dropped a frame")
                await asyncio.sleep(0.5)

    async def _tick(self) -> None:
        period = self.presence.ttl / 3
        while True:
            try:
                await self.presence.heartbeat()
                await self.presence.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis blips must not stop the sweeper
                log.exception("presence tick failed")
            await asyncio.sleep(min(period, 0.5))
