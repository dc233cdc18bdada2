"""The small interface between the handoff service and the bot (no bot internals cross it)."""

from __future__ import annotations

from typing import Any, Protocol


class BotLink(Protocol):
    """What the human side may ask of the bot runtime."""

    async def send_to_customer(self, sender_id: str, message: dict[str, Any], agent_name: str) -> int:
        """Store an agent's message in the conversation and deliver it; returns its event id."""

    async def push_queue(self, sender_id: str, position: int, eta_seconds: int) -> None:
        """Tell a waiting customer their queue position and estimated wait."""

    async def end_handoff(self, sender_id: str, how: str) -> None:
        """Give the conversation back to the bot (``returned``) or end it (``closed``); both send the survey."""

    async def mark_assigned(self, sender_id: str, agent_name: str) -> None:
        """An agent took the chat: the bot stays quiet from now on."""

    def transcript(self, sender_id: str) -> list[dict[str, Any]]:
        """The conversation's stored events (texts masked)."""

    def intents(self) -> list[str]:
        """The intent names the bot knows (for agents' label corrections)."""
