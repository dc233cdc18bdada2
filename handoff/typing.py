"""Typing notices between a customer and the agent serving them (never stored, throttled).

A customer typing in the widget sends ``{"type": "typing"}`` on their socket: the agent who holds the chat
gets ``{"type": "customer_typing", "chat_id": …}``. An agent typing in the console sends
``{"type": "typing", "chat_id": …}`` on the agent socket: the customer gets ``{"type": "agent_typing",
"agent": name}``. At most one notice per chat and direction every ``interval`` seconds goes through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from .queue import HandoffService

PushFrame = Callable[[str, dict[str, Any]], Awaitable[None]]
#: seconds between two relayed notices of one chat in one direction
TYPING_INTERVAL = 1.5


class TypingRelay:
    """Relays typing notices; ``push_customer(sender_id, frame)`` reaches the customer's sockets."""

    def __init__(self, service: HandoffService, push_customer: PushFrame, interval: float = TYPING_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``service``: the handoff service (sessions, agent notifications)."""
        self.service = service
        self.push_customer = push_customer
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[str, int], float] = {}

    def _due(self, direction: str, session_id: int) -> bool:
        now = self.clock()
        key = (direction, session_id)
        if now - self._last.get(key, -1e9) < self.interval:
            return False
        self._last[key] = now
        if len(self._last) > 10_000:  # forget old chats
            cutoff = now - 60 * self.interval
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
        return True

    async def from_customer(self, sender_id: str) -> bool:
        """The customer is typing: tell the agent holding the chat (if any). True when a notice went out."""
        row = self.service.store.open_session_for(sender_id)
        if row is None or row.status != "assigned" or row.agent_id is None or not self._due("customer", row.id):
            return False
        if self.service.notify_agent is None:
            return False
        await self.service.notify_agent(row.agent_id, {"type": "customer_typing", "chat_id": row.id})
        return True

    async def from_agent(self, agent: dict[str, Any], chat_id: Any) -> bool:
        """``agent`` is typing in chat ``chat_id``: tell its customer, if the agent holds that chat."""
        if not isinstance(chat_id, int) or isinstance(chat_id, bool) or chat_id <= 0:
            return False
        row = self.service.store.session(chat_id)
        if row is None or row.status != "assigned" or row.agent_id != agent.get("id"):
            return False
        if not self._due("agent", row.id):
            return False
        await self.push_customer(row.sender_id, {"type": "agent_typing", "agent": str(agent.get("name") or "")})
        return True
