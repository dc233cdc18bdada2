"""The small interface between the handoff service and the bot (no bot internals cross it).

The handoff service is the single owner of a chat's handoff status. It tells the bot side of every
change with :meth:`BotLink.handoff_changed` and a :class:`HandoffNotice`; the bot turns that into
one customer-facing message (shape in ``/CONTRACTS.md``, "Handoff notices to the customer").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol


class NoticeKind(StrEnum):
    """Every handoff status change the customer is told about."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    REQUEUED = "requeued"
    RETURNED = "returned"
    CLOSED = "closed"
    NO_AGENTS = "no_agents"

    @property
    def bot_status(self) -> str:
        """The bot-side handoff status after this change (``bot`` / ``queued`` / ``assigned``)."""
        if self in (NoticeKind.RETURNED, NoticeKind.CLOSED):
            return "bot"
        if self is NoticeKind.ASSIGNED:
            return "assigned"
        return "queued"


@dataclass
class HandoffNotice:
    """One change of a chat's handoff status, as the handoff service reports it."""

    kind: NoticeKind
    #: people ahead of the customer (0 = next), for queued / requeued / no_agents / transfers to a group
    queue_position: int | None = None
    eta_seconds: int | None = None
    agent: str | None = None
    to_skill: str | None = None
    agents_online: int | None = None
    priority: str = "normal"
    #: set when the chat stays with a person (transfer to an agent)
    assigned: bool = False

    def custom(self) -> dict[str, Any]:
        """The ``custom`` payload of the customer message (see CONTRACTS.md)."""
        data = asdict(self)
        data.pop("kind")
        data.pop("assigned")
        return {"type": "handoff", "status": self.kind.value, **data}


class BotLink(Protocol):
    """What the human side may ask of the bot runtime."""

    async def send_to_customer(self, sender_id: str, message: dict[str, Any], agent_name: str) -> int:
        """Store an agent's message in the conversation and deliver it; returns its event id."""

    async def push_queue(self, sender_id: str, position: int, eta_seconds: int | None, agents_online: int) -> None:
        """Tell a waiting customer how many people are ahead (0 = next) and the estimated wait."""

    async def handoff_changed(self, sender_id: str, notice: HandoffNotice) -> None:
        """The chat's handoff status changed (assign, transfer, requeue, return, close, no agents)."""

    def transcript(self, sender_id: str) -> list[dict[str, Any]]:
        """The conversation's stored events (texts masked)."""

    def intents(self) -> list[str]:
        """The intent names the bot knows (for agents' label corrections)."""
