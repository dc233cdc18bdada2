"""The bot's side of the handoff interface (``handoff.interface.BotLink``)."""

from __future__ import annotations

from typing import Any

from ..nlu.entities import mask_sensitive
from .assistant import Assistant
from .policy import Step


class AssistantBotLink:
    """Lets the handoff service reach customers and give conversations back, via the assistant."""

    def __init__(self, assistant: Assistant) -> None:
        """Wrap the running assistant."""
        self.assistant = assistant

    async def send_to_customer(self, sender_id: str, message: dict[str, Any], agent_name: str) -> int:
        """Store the agent's message as an ``agent`` event, then deliver it."""
        a = self.assistant
        async with a.lock(sender_id):
            conv = a.store.load(sender_id)
            conv.state["had_agent"] = True
            msg = {k: v for k, v in message.items() if k in ("text", "image", "buttons", "custom")}
            if isinstance(msg.get("text"), str):
                msg["text"] = mask_sensitive(msg["text"])
            (event_id,) = a.store.save_turn(conv, [("agent", {**msg, "agent": agent_name})])
        msg["recipient_id"] = sender_id
        msg["event_id"] = event_id
        await a.notify(sender_id, [msg], kind="agent", agent=agent_name)
        return event_id

    async def push_queue(self, sender_id: str, position: int, eta_seconds: int) -> None:
        """Live queue position for a waiting customer (not stored: the queue itself is)."""
        await self.assistant.notify_frame(sender_id, {"type": "queue", "queue_position": position,
                                                      "eta_seconds": eta_seconds})

    async def mark_assigned(self, sender_id: str, agent_name: str) -> None:
        """An agent owns the chat now: the bot goes quiet and the customer is told who joined."""
        a = self.assistant
        async with a.lock(sender_id):
            conv = a.store.load(sender_id)
            conv.state["handoff_status"] = "assigned"
            conv.state["had_agent"] = True
            conv.state.setdefault("slots", {})["handoff_status"] = "assigned"
            lang = conv.state.get("language", "zh")
            text = f"人工客服{agent_name}已接入，您可以直接和客服交流。" if lang != "en" else \
                f"{agent_name} from our service team has joined the chat."
            msg = {"text": text, "custom": {"type": "agent_joined", "agent": agent_name}}
            a.store.save_turn(conv, [("handoff_assigned", {"agent": agent_name}), ("bot", msg)])
        await a.notify(sender_id, [{**msg, "recipient_id": sender_id}])

    async def end_handoff(self, sender_id: str, how: str) -> None:
        """Back to the bot (``returned``) or ended (``closed``); the survey goes out either way."""
        a = self.assistant
        async with a.lock(sender_id):
            conv = a.store.load(sender_id)
            state = conv.state
            state["handoff_status"] = "bot"
            state.setdefault("slots", {}).update({"handoff_status": None, "queue_position": None})
            state["failures"] = 0
            state["clarifications"] = 0
            state["survey_done"] = False
            state["pending"] = {"type": "survey"}
            messages, events = await a.run_steps(conv, [Step("action", "action_survey", {})], {})
            a.store.save_turn(conv, [("handoff_end", {"how": how})] + events)
        for m in messages:
            m["recipient_id"] = sender_id
        await a.notify(sender_id, messages)

    def transcript(self, sender_id: str) -> list[dict[str, Any]]:
        """Stored events of the conversation."""
        return self.assistant.store.events(sender_id)

    def intents(self) -> list[str]:
        """The intent names the bot knows."""
        return sorted(self.assistant.payload_intents - {"survey", "leave_message"})
