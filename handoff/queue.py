"""The handoff queue: escalations in, auto-assignment out, transfers, returns, closes, requeues.

``HandoffService`` implements the bot's ``HandoffGateway`` (``escalate``, ``on_customer_message``)
and drives the agent side through listeners (the agent websocket) and the :class:`BotLink`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import yaml

from .interface import BotLink, HandoffNotice, NoticeKind
from .routing import RoutingConfig, can_serve, chat_skill, pick_agent, queue_score
from .store import HandoffStore, agent_dict, check_password, session_dict
from .urgency import chat_urgency, customer_names

DATA = Path(__file__).resolve().parents[1] / "data" / "handoff"
DISPOSITIONS = ("resolved", "follow_up", "no_response", "transferred_offline", "other")
AgentListener = Callable[[int, dict[str, Any]], Awaitable[None]]
#: an agent's heartbeat (``ho_agents.last_seen``) is written at most this often per agent
HEARTBEAT_WRITE_S = 5.0


class HandoffError(ValueError):
    """A request the handoff service refuses; the message says why (-> HTTP 4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        """``status`` is the HTTP status to answer with."""
        super().__init__(message)
        self.status = status


class Presence(Protocol):
    """Where agent consoles are tracked when several instances share the agents (see ``bot/cluster.py``)."""

    def connected(self, agent_id: int) -> None:
        """A console of the agent opened on this instance."""

    def disconnected(self, agent_id: int, still_connected: bool) -> None:
        """A console closed (``still_connected``: others stay open here); starts the grace period if none is left."""


def seed_demo_agents(store: HandoffStore, default_capacity: int = 5) -> list[str]:
    """Add the demo agents of ``data/handoff/demo_agents.yml`` (published passwords!) that are missing.

    Only ``bankbot agents seed-demo`` and ``bankbot run --demo`` call this; returns the usernames added.
    """
    have = {r.username for r in store.all_agents()}
    added = []
    for a in _demo_agents():
        if a["username"] in have:
            continue
        store.add_agent(a["username"], a["name"], a["role"], a["password"], a.get("skills", []),
                        int(a.get("capacity", default_capacity)))
        added.append(str(a["username"]))
    return added


def lock_demo_agents(store: HandoffStore) -> list[str]:
    """Outside demo mode: accounts that still have a published demo password can no longer log in.

    A database once started with ``--demo`` keeps those accounts; a later plain start gives each one that
    still has its published password a random one and ends its sessions. Returns the usernames locked.
    """
    published = {str(a["username"]): str(a["password"]) for a in _demo_agents()}
    locked = []
    for row in store.all_agents():
        if row.username in published and check_password(published[row.username], row.password_hash):
            store.lock_agent(row.id)
            locked.append(str(row.username))
    return locked


def _demo_agents() -> list[dict[str, Any]]:
    path = DATA / "demo_agents.yml"
    if not path.is_file():
        return []
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("agents", []))


class HandoffService:
    """Queue, routing and chat lifecycle of escalated conversations."""

    def __init__(self, store: HandoffStore, config: RoutingConfig | None = None) -> None:
        """Use ``store``; seed the shared phrases (demo agents only via :func:`seed_demo_agents`)."""
        self.store = store
        self.config = config or RoutingConfig.load()
        self.bot: BotLink | None = None
        #: (agent_id, frame) -> deliver to that agent's consoles; set by the API layer
        self.notify_agent: AgentListener | None = None
        #: chat id -> supervisors watching it live (they get ``watch_message`` frames)
        self.watchers: dict[int, set[int]] = {}
        self._lock = asyncio.Lock()
        self._pending_requeue: dict[int, asyncio.TimerHandle] = {}
        #: agent id -> when their heartbeat was last written (writes are throttled to HEARTBEAT_WRITE_S)
        self._beats: dict[int, float] = {}
        #: cross-instance presence (Redis); None: consoles and grace timers are tracked in this process
        self.presence: Presence | None = None
        if (DATA / "phrases.yml").is_file():
            store.seed_phrases((yaml.safe_load((DATA / "phrases.yml").read_text(encoding="utf-8")) or {})
                               .get("phrases", []))

    # ------------------------------------------------------------------ views
    def agents(self) -> list[dict[str, Any]]:
        """All agents with their current load."""
        load = self._load()
        return [{**agent_dict(r), "load": load.get(r.id, 0)} for r in self.store.all_agents()]

    def _load(self) -> dict[int, int]:
        load: dict[int, int] = {}
        for s in self.store.sessions_with("assigned"):
            if s.agent_id is not None:
                load[s.agent_id] = load.get(s.agent_id, 0) + 1
        return load

    def queue(self) -> list[dict[str, Any]]:
        """Waiting chats, highest score first."""
        now = time.time()
        items = [session_dict(r) for r in self.store.sessions_with("queued")]
        return sorted(items, key=lambda s: -queue_score(s, self.config, now))

    @staticmethod
    def queue_item(chat: dict[str, Any]) -> dict[str, Any]:
        """A waiting chat as listed in queues: no transcript, but care flags and a display name."""
        item = {k: v for k, v in chat.items() if k != "context"}
        ctx = chat["context"]
        item["care"] = ctx.get("care", {})
        item["customer_name"], item["salutation"] = customer_names(chat["sender_id"], ctx)
        item["urgency"] = chat_urgency(chat).as_dict()
        customer = [t for t in ctx.get("transcript", []) if t.get("from") == "customer"]
        item["preview"] = str(customer[-1].get("text", ""))[:80] if customer else ""
        item["intent"] = next((i.get("intent") for i in reversed(ctx.get("intents", [])) if i.get("intent")), None)
        return item

    def chat(self, session_id: int, with_messages: bool = True) -> dict[str, Any]:
        """A chat with its context and (masked) messages."""
        row = self.store.session(session_id)
        if row is None:
            raise HandoffError(f"no chat {session_id}", 404)
        chat = session_dict(row)
        chat["customer_name"], chat["salutation"] = customer_names(row.sender_id, chat["context"])
        chat["tags"] = self.store.tags_for(row.id)
        customer_texts: list[str] = []
        if with_messages and self.bot is not None:
            chat["messages"] = [m for m in (self._message(e) for e in self.bot.transcript(row.sender_id)) if m]
            since = float(chat["created_at"])
            customer_texts = [m["text"] for m in chat["messages"] if m["from"] == "customer" and m["ts"] >= since]
        from .urgency import urgency

        waited = float(chat["wait_seconds"]) if row.status != "queued" else time.time() - float(row.queued_at)
        chat["urgency"] = urgency(chat["context"], row.reason, waited, customer_texts).as_dict()
        return chat

    @staticmethod
    def _message(e: dict[str, Any]) -> dict[str, Any] | None:
        if e["type"] == "user":
            p = e.get("parse_data", {})
            return {"event_id": e["id"], "from": "customer", "text": e.get("text", ""), "ts": e["ts"],
                    "intent": p.get("intent", {}).get("name"), "confidence": p.get("intent", {}).get("confidence")}
        if e["type"] in ("bot", "agent"):
            return {"event_id": e["id"], "from": e["type"], "text": e.get("text") or "", "ts": e["ts"],
                    "custom": e.get("custom"), "agent": e.get("agent")}
        return None

    def my_chats(self, agent_id: int) -> list[dict[str, Any]]:
        """An agent's assigned chats."""
        return [self.chat(r.id) for r in self.store.sessions_with("assigned", agent_id)]

    def require_owner(self, session_id: int, agent: dict[str, Any]) -> Any:
        """The session row, if this agent owns it (supervisors may act on any assigned chat)."""
        row = self.store.session(session_id)
        if row is None:
            raise HandoffError(f"no chat {session_id}", 404)
        if row.status != "assigned" or (row.agent_id != agent["id"] and agent["role"] != "supervisor"):
            raise HandoffError(f"chat {session_id} is not assigned to you", 403)
        return row

    # ------------------------------------------------------------------ bot gateway
    def escalate(self, sender_id: str, context: dict[str, Any]) -> dict[str, Any]:
        """Queue a conversation (the bot's ``HandoffGateway``); routing runs right after."""
        existing = self.store.open_session_for(sender_id)
        if existing is not None:
            sid = existing.id
            self.store.set_session(sid, context=json.dumps(context, ensure_ascii=False))
        else:
            sid = self.store.create_session(sender_id, chat_skill(context, self.config), context["priority"],
                                            context["reason"], context)
        self._soon(self.route())
        ahead = self._position(sid)
        online = self._online()
        return {"queue_position": ahead, "eta_seconds": self._eta(ahead) if online else None, "handoff_id": sid,
                "agents_online": online}

    def raise_priority(self, sender_id: str, priority: str, reason: str) -> dict[str, Any] | None:
        """An open chat becomes more urgent (e.g. fraud reported while waiting); routing runs again."""
        row = self.store.open_session_for(sender_id)
        if row is None:
            return None
        self.store.set_session(row.id, priority=priority)
        self._soon(self.route())
        ahead = self._position(row.id)
        return {"queue_position": ahead, "eta_seconds": self._eta(ahead) if self._online() else None,
                "handoff_id": row.id, "agents_online": self._online()}

    def queue_status(self, sender_id: str) -> dict[str, Any] | None:
        """People ahead (0 = next), wait and agents online for a waiting chat; ``None`` if not queued."""
        row = self.store.open_session_for(sender_id)
        if row is None or row.status != "queued":
            return None
        ahead = self._position(row.id)
        online = self._online()
        return {"queue_position": ahead, "eta_seconds": self._eta(ahead) if online else None,
                "agents_online": online}

    def leave_message(self, sender_id: str, text: str) -> dict[str, Any]:
        """A waiting customer left a message instead: ticket it and take the chat out of the queue."""
        row = self.store.open_session_for(sender_id)
        session_id = row.id if row is not None else None
        if row is not None and row.status == "queued":
            self.store.set_session(row.id, status="closed", closed_at=time.time(), disposition="left_message")
            self._soon(self._broadcast_queue())
        tid = self.store.add_ticket(sender_id, session_id, "callback", None, text, None)
        return {"ticket_id": tid}

    async def on_customer_message(self, sender_id: str, event_id: int, text: str, parse: dict[str, Any]) -> None:
        """A customer wrote while their chat is queued or with a person: it goes into the agent's view.

        Queued chats keep the message in their transcript (the agent sees it on assignment);
        an assigned chat's agent gets it at once.
        """
        row = self.store.open_session_for(sender_id)
        if row is None or row.status != "assigned" or row.agent_id is None:
            return
        self.store.bump_unread(row.id)
        msg = {"event_id": event_id, "from": "customer", "text": text, "ts": time.time(),
               "intent": parse.get("intent", {}).get("name"), "confidence": parse.get("intent", {}).get("confidence")}
        await self._tell(row.agent_id, {"type": "customer_message", "chat_id": row.id, "message": msg})
        await self._tell_watchers(row.id, msg)

    # ------------------------------------------------------------------ routing
    async def route(self) -> None:
        """Assign waiting chats to free agents, best queue score first; tell everyone what changed."""
        async with self._lock:
            agents = self.agents()
            load = {a["id"]: a["load"] for a in agents}
            last = {r.id: r.last_assigned_at for r in self.store.all_agents()}
            assigned: list[tuple[int, int]] = []
            for chat in self.queue():
                agent = pick_agent(agents, chat["skill"], load, last)
                if agent is None:
                    continue
                now = time.time()
                if not self.store.assign(chat["id"], agent["id"], agent["capacity"], now):
                    # another instance took the chat or filled the agent: re-read the loads and go on
                    agents = self.agents()
                    load = {a["id"]: a["load"] for a in agents}
                    continue
                load[agent["id"]] = load.get(agent["id"], 0) + 1
                last[agent["id"]] = now
                assigned.append((chat["id"], agent["id"]))
        for sid, aid in assigned:
            row = self.store.session(sid)
            agent_row = self.store.agent(aid)
            if row is not None and agent_row is not None and self.bot is not None:
                await self.bot.handoff_changed(row.sender_id, HandoffNotice(NoticeKind.ASSIGNED, agent=agent_row.name,
                                                                            priority=row.priority))
            await self._tell(aid, {"type": "chat_assigned", "chat": self.chat(sid)})
        await self._broadcast_queue()

    async def pull(self, session_id: int, agent: dict[str, Any]) -> dict[str, Any]:
        """An agent takes a waiting chat themselves (capacity still applies)."""
        async with self._lock:
            row = self.store.session(session_id)
            if row is None or row.status != "queued":
                raise HandoffError(f"chat {session_id} is not waiting", 409)
            if agent["role"] not in ("agent", "supervisor"):
                raise HandoffError("only agents and supervisors take chats", 403)
            if self._load().get(agent["id"], 0) >= agent["capacity"]:
                raise HandoffError(f"you already have {agent['capacity']} chats (your capacity)", 409)
            if not self.store.assign(session_id, agent["id"], agent["capacity"], time.time()):
                again = self.store.session(session_id)
                if again is None or again.status != "queued":
                    raise HandoffError(f"chat {session_id} is not waiting", 409)
                raise HandoffError(f"you already have {agent['capacity']} chats (your capacity)", 409)
        if self.bot is not None:
            await self.bot.handoff_changed(row.sender_id, HandoffNotice(NoticeKind.ASSIGNED, agent=agent["name"],
                                                                        priority=row.priority))
        chat = self.chat(session_id)
        await self._tell(agent["id"], {"type": "chat_assigned", "chat": chat})
        await self._broadcast_queue()
        return chat

    async def requeue_agent(self, agent_id: int) -> int:
        """Put an agent's chats back at the front of the queue; returns how many."""
        rows = self.store.sessions_with("assigned", agent_id)
        now = time.time()
        for r in rows:
            self.store.set_session(r.id, status="queued", agent_id=None, assigned_at=None, requeued=True, queued_at=now)
            await self._tell(agent_id, {"type": "chat_updated", "chat": self.chat(r.id, with_messages=False)})
        for r in rows:
            if self.bot is not None:
                ahead = self._position(r.id)
                online = self._online()
                await self.bot.handoff_changed(r.sender_id, HandoffNotice(
                    NoticeKind.REQUEUED if online else NoticeKind.NO_AGENTS, queue_position=ahead,
                    eta_seconds=self._eta(ahead) if online else None, agents_online=online, priority=r.priority))
        await self.route()
        return len(rows)

    async def set_status(self, agent: dict[str, Any], status: str) -> dict[str, Any]:
        """online / away / offline (offline re-queues the agent's chats at the front)."""
        if status not in ("online", "away", "offline"):
            raise HandoffError("status must be online, away or offline")
        self.store.set_agent(agent["id"], status=status)
        if status == "offline":
            await self.requeue_agent(agent["id"])
        else:
            await self.route()
        row = self.store.agent(agent["id"])
        return agent_dict(row) if row is not None else agent

    def heartbeat(self, agent_id: int, force: bool = False) -> None:
        """A console of the agent is alive (connect, any frame): ``last_seen`` in the database (throttled)."""
        now = time.time()
        if force or now - self._beats.get(agent_id, 0.0) >= HEARTBEAT_WRITE_S:
            self._beats[agent_id] = now
            self.store.heartbeat(agent_id, now)

    def recover_presence(self) -> list[int]:
        """After a restart (one process, no Redis): agents the database still has online get the grace period
        to reconnect; whoever doesn't is set offline and their chats go back to the front of the queue.

        Returns the agents given the grace period. With Redis the presence keeps its own deadlines.
        """
        if self.presence is not None:
            return []
        waiting = [r.id for r in self.store.all_agents() if r.status == "online"]
        for agent_id in waiting:
            self._start_grace(agent_id)
        return waiting

    def connected(self, agent_id: int) -> None:
        """A console of the agent connected: cancel a pending disconnect requeue."""
        self.heartbeat(agent_id, force=True)
        if self.presence is not None:
            self.presence.connected(agent_id)
            return
        handle = self._pending_requeue.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def disconnected(self, agent_id: int, still_connected: bool) -> None:
        """The agent's last console closed: after a grace period, re-queue their chats."""
        self.heartbeat(agent_id, force=True)
        if self.presence is not None:
            self.presence.disconnected(agent_id, still_connected)
            return
        if still_connected:
            return
        self._start_grace(agent_id)

    def _start_grace(self, agent_id: int) -> None:
        """After the grace period, an agent still online with no console here goes offline; chats re-queued."""
        loop = asyncio.get_running_loop()
        handle = self._pending_requeue.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

        def fire() -> None:
            self._pending_requeue.pop(agent_id, None)
            row = self.store.agent(agent_id)
            if row is not None and row.status == "online":
                self.store.set_agent(agent_id, status="offline")
                loop.create_task(self.requeue_agent(agent_id))

        self._pending_requeue[agent_id] = loop.call_later(self.config.disconnect_grace_seconds, fire)

    # ------------------------------------------------------------------ chat actions
    async def reply(self, session_id: int, agent: dict[str, Any], message: dict[str, Any]) -> int:
        """Send an agent message (text or guide card) to the customer."""
        row = self.require_owner(session_id, agent)
        if self.bot is None:
            raise HandoffError("bot link missing", 500)
        event_id = await self.bot.send_to_customer(row.sender_id, message, agent["name"])
        await self._tell_watchers(session_id, {"event_id": event_id, "from": "agent", "text": message.get("text", ""),
                                               "ts": time.time(), "custom": message.get("custom"),
                                               "agent": agent["name"]})
        return event_id

    async def assign(self, session_id: int, to_agent: int) -> dict[str, Any]:
        """A supervisor gives a waiting chat (or an agent's chat) to ``to_agent`` (capacity applies)."""
        async with self._lock:
            row = self.store.session(session_id)
            if row is None or row.status not in ("queued", "assigned"):
                raise HandoffError(f"chat {session_id} is not open", 409)
            target = self.store.agent(to_agent)
            if target is None or target.role not in ("agent", "supervisor"):
                raise HandoffError(f"no agent {to_agent}", 404)
            if row.agent_id == target.id:
                raise HandoffError(f"the chat is already with {target.name}", 409)
            if target.status == "offline" or self._load().get(target.id, 0) >= target.capacity:
                raise HandoffError(f"{target.name} is offline or has no free place", 409)
            previous = row.agent_id if row.status == "assigned" else None
            now = time.time()
            self.store.set_session(session_id, status="assigned", agent_id=target.id, assigned_at=now,
                                   requeued=False, unread=0)
            self.store.set_agent(target.id, last_assigned_at=now)
        if previous is not None:
            await self._tell(previous, {"type": "chat_updated", "chat": self.chat(session_id, False)})
        if self.bot is not None:
            kind = NoticeKind.TRANSFERRED if previous is not None else NoticeKind.ASSIGNED
            await self.bot.handoff_changed(row.sender_id, HandoffNotice(kind, agent=target.name, assigned=True,
                                                                        priority=row.priority))
        chat = self.chat(session_id)
        await self._tell(target.id, {"type": "chat_assigned", "chat": chat})
        await self._broadcast_queue()
        return chat

    async def _tell_watchers(self, session_id: int, message: dict[str, Any]) -> None:
        for sv in list(self.watchers.get(session_id, ())):
            await self._tell(sv, {"type": "watch_message", "chat_id": session_id, "message": message})

    async def transfer(self, session_id: int, agent: dict[str, Any], to_agent: Any = None, to_skill: Any = None,
                       note: str = "") -> dict[str, Any]:
        """Hand the chat to another agent (if they have room) or back to a skill group's queue."""
        row = self.require_owner(session_id, agent)
        if to_agent is not None:
            target = None
            if isinstance(to_agent, int) and not isinstance(to_agent, bool) and 0 <= to_agent <= 2**63 - 1:
                target = self.store.agent(to_agent)
            elif isinstance(to_agent, str) and to_agent.isascii() and to_agent.isdigit() and len(to_agent) <= 18:
                target = self.store.agent(int(to_agent))
            if target is None:
                raise HandoffError(f"no agent {str(to_agent)[:40]!r}", 404)
            tdict = agent_dict(target)
            if tdict["status"] != "online" or self._load().get(target.id, 0) >= tdict["capacity"]:
                raise HandoffError(f"{target.name} is not available (offline or at capacity)", 409)
            if not self.store.assign(session_id, target.id, tdict["capacity"], time.time(), from_agent=row.agent_id):
                raise HandoffError(f"{target.name} is not available (offline or at capacity)", 409)
            self.store.set_session(session_id, note=note)
            await self._tell(agent["id"], {"type": "chat_updated", "chat": self.chat(session_id, False)})
            if self.bot is not None:
                await self.bot.handoff_changed(row.sender_id, HandoffNotice(
                    NoticeKind.TRANSFERRED, agent=target.name, assigned=True, priority=row.priority))
            await self._tell(target.id, {"type": "chat_assigned", "chat": self.chat(session_id)})
        elif to_skill:
            groups = set(self.config.skills.values()) | {self.config.default_skill}
            if not isinstance(to_skill, str) or to_skill not in groups:
                raise HandoffError(f"unknown skill group {str(to_skill)[:40]!r}")
            self.store.set_session(session_id, status="queued", agent_id=None, assigned_at=None, skill=to_skill,
                                   note=note, queued_at=time.time())
            await self._tell(agent["id"], {"type": "chat_updated", "chat": self.chat(session_id, False)})
            if self.bot is not None:
                ahead = self._position(session_id)
                online = self._online()
                await self.bot.handoff_changed(row.sender_id, HandoffNotice(
                    NoticeKind.TRANSFERRED, to_skill=str(to_skill), queue_position=ahead,
                    eta_seconds=self._eta(ahead) if online else None, agents_online=online, priority=row.priority))
            await self.route()
        else:
            raise HandoffError("give 'to_agent' or 'to_skill'")
        return self.chat(session_id, False)

    async def finish(self, session_id: int, agent: dict[str, Any], how: str, disposition: str | None = None) -> None:
        """Return the chat to the bot or close it; the customer gets the survey either way."""
        row = self.require_owner(session_id, agent)
        if how == "closed" and disposition not in DISPOSITIONS:
            raise HandoffError(f"'disposition' must be one of {', '.join(DISPOSITIONS)}")
        self.store.set_session(session_id, status=how, closed_at=time.time(), disposition=disposition)
        if self.bot is not None:
            await self.bot.handoff_changed(row.sender_id, HandoffNotice(
                NoticeKind.RETURNED if how == "returned" else NoticeKind.CLOSED, agent=agent["name"]))
        await self._tell(row.agent_id or agent["id"], {"type": "chat_updated", "chat": self.chat(session_id, False)})
        await self.route()

    # ------------------------------------------------------------------ helpers
    def _position(self, session_id: int) -> int:
        """How many waiting chats are ahead of this one (0 = next)."""
        ids = [c["id"] for c in self.queue()]
        return ids.index(session_id) if session_id in ids else 0

    def _online(self) -> int:
        """Agents online now (agents and supervisors)."""
        return sum(1 for a in self.agents() if a["status"] == "online" and a["role"] in ("agent", "supervisor"))

    def _eta(self, ahead: int) -> int:
        """Estimated wait with ``ahead`` people in front."""
        return int((ahead + 1) * self.config.handle_seconds / max(self._online(), 1))

    async def _tell(self, agent_id: int, frame: dict[str, Any]) -> None:
        if self.notify_agent is not None:
            await self.notify_agent(agent_id, frame)

    async def _broadcast_queue(self) -> None:
        queue = self.queue()
        for a in self.agents():
            visible = [c for c in queue if can_serve(a, c["skill"]) or a["role"] == "supervisor"]
            await self._tell(a["id"], {"type": "queue", "queue": [self.queue_item(c) for c in visible]})
        if self.bot is not None:
            online = self._online()
            for i, c in enumerate(queue):
                await self.bot.push_queue(c["sender_id"], i, self._eta(i) if online else None, online)

    def _soon(self, coro: Awaitable[None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coro)  # type: ignore[arg-type]
            return
        loop.create_task(coro)  # type: ignore[arg-type]
