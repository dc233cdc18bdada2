"""The bot's side of the handoff interface (``handoff.interface.BotLink``).

The handoff service owns the handoff status; every change arrives here as a
:class:`~handoff.interface.HandoffNotice` and becomes the bot-side status plus one customer notice
(message shape in ``CONTRACTS.md``).
"""

from __future__ import annotations

from typing import Any

from handoff.interface import HandoffNotice, NoticeKind

from ..nlu.entities import mask_sensitive
from .assistant import Assistant, stamp_event_ids
from .policy import Step
from .state import HandoffStatus, StepKind

SKILL_TITLES = {"zh": {"inquiry": "查询", "operation": "业务办理", "consultation": "咨询", "value_added": "增值服务",
                       "general": "综合", "fraud": "反欺诈"},
                "en": {}}


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
            conv.state["last_bot_text"] = None
            msg = {k: v for k, v in message.items() if k in ("text", "image", "buttons", "custom")}
            if isinstance(msg.get("text"), str):
                msg["text"] = mask_sensitive(msg["text"])
            (event_id,) = a.store.save_turn(conv, [("agent", {**msg, "agent": agent_name})])
        msg["recipient_id"] = sender_id
        msg["event_id"] = event_id
        await a.notify(sender_id, [msg], kind="agent", agent=agent_name)
        return event_id

    async def push_queue(self, sender_id: str, position: int, eta_seconds: int | None, agents_online: int) -> None:
        """Live queue position for a waiting customer (not stored: the queue itself is)."""
        await self.assistant.notify_frame(sender_id, {"type": "queue", "status": "queued", "queue_position": position,
                                                      "eta_seconds": eta_seconds, "agents_online": agents_online})

    async def handoff_changed(self, sender_id: str, notice: HandoffNotice) -> None:
        """Take over the new status and tell the customer what changed (once)."""
        a = self.assistant
        async with a.lock(sender_id):
            conv = a.store.load(sender_id)
            state = conv.state
            lang = state.get("language", "zh")
            status = HandoffStatus(notice.kind.bot_status if not notice.assigned else "assigned")
            state["handoff_status"] = status.value
            slots = state.setdefault("slots", {})
            slots["handoff_status"] = None if status is HandoffStatus.BOT else status.value
            slots["queue_position"] = notice.queue_position
            args: dict[str, Any] = {"agent": notice.agent or "", "ahead": notice.queue_position,
                                    "custom": notice.custom()}
            lang_titles = SKILL_TITLES.get(lang, {})
            skill = lang_titles.get(notice.to_skill or "", notice.to_skill or "")
            leave = [{"title": "留言" if lang == "zh" else "Leave a message", "payload": "/leave_message"},
                     {"title": "预约回电" if lang == "zh" else "Request a callback", "payload": "/request_callback"}]
            name = {NoticeKind.ASSIGNED: "utter_agent_joined", NoticeKind.REQUEUED: "utter_agent_left",
                    NoticeKind.RETURNED: "utter_returned_to_bot", NoticeKind.CLOSED: "utter_handoff_closed",
                    NoticeKind.NO_AGENTS: "utter_handoff_no_agents", NoticeKind.QUEUED: "utter_queue_update"}.get(
                notice.kind, "utter_transferred_agent")
            if notice.kind is NoticeKind.TRANSFERRED and not notice.assigned:
                name = "utter_transferred_skill"
                args["skill"] = skill
            if notice.kind is NoticeKind.REQUEUED and not notice.agent:
                args["agent"] = ""
            if notice.kind is NoticeKind.NO_AGENTS:
                args["buttons"] = leave
            events: list[tuple[str, dict[str, Any]]] = [("handoff_status", {**notice.custom()})]
            if notice.kind is NoticeKind.ASSIGNED:
                state["had_agent"] = True
                events.insert(0, ("handoff_assigned", {"agent": notice.agent}))
            msg = a._render(name, state, args)
            messages = [msg]
            if status is HandoffStatus.BOT:
                events.insert(0, ("handoff_end", {"how": notice.kind.value}))
                state["failures"] = 0
                state["clarifications"] = 0
                state["misses"] = 0
                state["survey_done"] = False
                state["emergency"] = None
                state["pending"] = {"type": "survey"}
                more, evs = await a.run_steps(conv, [Step(StepKind.ACTION, "action_survey", {})], {})
                messages += more
                events += [e for e in evs if e[0] != "bot"]
            state["last_bot_text"] = None  # a status notice is news, never a repeat
            messages, events = a.finish_messages(state, messages, events)
            stamp_event_ids(events, a.store.save_turn(conv, events))
        for m in messages:
            m["recipient_id"] = sender_id
        await a.notify(sender_id, messages)

    def transcript(self, sender_id: str) -> list[dict[str, Any]]:
        """Stored events of the conversation."""
        return self.assistant.store.events(sender_id)

    def intents(self) -> list[str]:
        """The intent names the bot knows."""
        return sorted(self.assistant.payload_intents - {"survey", "leave_message", "request_callback", "freeze_card"})
