"""The socket hub: which customer websockets are open for which conversation, and delivery to them.

Every push to a customer (bot messages after a turn, an agent's reply, a queue update, the survey) goes
through ``SocketHub.send_frame``. :class:`LocalHub` delivers to the sockets of this process. A hub that fans
out across instances (e.g. over Redis pub/sub) overrides ``send_frame`` to publish, and calls
``deliver_local`` when a published frame arrives; the channels don't change.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..dialogue.assistant import Assistant
from .base import dumps


class CustomerSocket(Protocol):
    """The part of a websocket the hub uses."""

    async def send(self, data: str) -> None:
        """Send one text frame."""


class SocketHub:
    """Per-conversation customer sockets of this process, with local delivery."""

    def __init__(self) -> None:
        """An empty hub."""
        self.sockets: dict[str, set[CustomerSocket]] = {}

    def add(self, sender_id: str, ws: CustomerSocket) -> None:
        """Register an open socket for a conversation."""
        self.sockets.setdefault(sender_id, set()).add(ws)

    def discard(self, sender_id: str, ws: CustomerSocket) -> None:
        """Forget a socket (closed or dead)."""
        held = self.sockets.get(sender_id)
        if held is not None:
            held.discard(ws)
            if not held:
                del self.sockets[sender_id]

    def connections(self) -> int:
        """Open customer sockets in this process."""
        return sum(len(s) for s in self.sockets.values())

    async def deliver_local(self, sender_id: str, frame: dict[str, Any]) -> None:
        """Send a frame to this process's sockets of the conversation; dead sockets are dropped."""
        for ws in list(self.sockets.get(sender_id, ())):
            try:
                await ws.send(dumps(frame))
            except Exception:  # noqa: BLE001 - a dead socket is dropped, the message stays stored
                self.discard(sender_id, ws)

    async def send_frame(self, sender_id: str, frame: dict[str, Any]) -> None:
        """Deliver a frame to every open socket of the conversation (here: this process's)."""
        await self.deliver_local(sender_id, frame)

    async def push(self, sender_id: str, messages: list[dict[str, Any]], kind: str = "bot",
                   agent: str | None = None) -> None:
        """Deliver messages as ``{"type": kind, "message": …}`` frames (``agent`` named for agent replies)."""
        for m in messages:
            frame: dict[str, Any] = {"type": kind, "message": m}
            if agent:
                frame["agent"] = agent
            await self.send_frame(sender_id, frame)

    def attach(self, assistant: Assistant) -> None:
        """Subscribe to the assistant's pushes (turn replies, agent messages, raw frames)."""
        assistant.listeners.append(self.push)
        assistant.frame_listeners.append(self.send_frame)


#: the in-process hub used by the embedded (single-instance) mode
LocalHub = SocketHub
