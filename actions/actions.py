"""Custom actions: image-and-text guides, human handoff, satisfaction survey, follow-up tickets."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .guides import deep_link, guides, image_url, localized, web_link

DONE = {"zh": "做好了", "en": "Done"}
NOT_WORKING = {"zh": "没成功", "en": "It didn't work"}
HUMAN = {"zh": "转人工", "en": "Talk to a person"}
OPEN_APP = {"zh": "在App中打开", "en": "Open in app"}
OPEN_WEB = {"zh": "网页版办理", "en": "Open on the web"}
STEP = {"zh": "第 {n}/{of} 步", "en": "Step {n} of {of}"}
CARE_PACING_MS = 3000
SURVEY_REASONS = {
    "zh": ["问题没有解决", "等待时间太长", "回答听不懂", "服务态度", "操作太复杂", "其他"],
    "en": ["Problem not solved", "Waited too long", "Hard to understand", "Attitude", "Too complicated", "Other"],
}


def _lang(tracker: Tracker) -> str:
    return "en" if tracker.get_slot("language") == "en" else "zh"


class ActionShowGuide(Action):
    """Show the guide in ``guide_id``: all steps at once, or one step per message in care mode (or when the
    customer asked to go step by step after a guide didn't help)."""

    def name(self) -> str:
        """Action name."""
        return "action_show_guide"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """Render the guide (standard) or its next step (care mode)."""
        lang = _lang(tracker)
        # the guide chosen by the dialogue, else the one named like the latest intent (plain Rasa rules)
        guide_id = tracker.get_slot("guide_id") or (tracker.latest_message.get("intent") or {}).get("name")
        guide = guides().get(guide_id or "")
        if not guide:
            dispatcher.utter_message(response="utter_try_again")
            return [SlotSet("guide_id", None), SlotSet("guide_step", None)]
        text = localized(guide, lang)
        links = {"deep_link": deep_link(guide["deep_link"]), "web_link": web_link(guide["web_link"])}
        steps = text["steps"]
        stepwise = tracker.get_slot("care_mode") or tracker.get_slot("stepwise")
        if not stepwise:
            cards = [{"n": i + 1, "text": s["text"], "image": image_url(s["image"])} for i, s in enumerate(steps)]
            dispatcher.utter_message(
                text=f"{text['title']}：{text['summary']}" if lang == "zh" else f"{text['title']}: {text['summary']}",
                buttons=[{"title": OPEN_APP[lang], "payload": links["deep_link"]},
                         {"title": OPEN_WEB[lang], "payload": links["web_link"]}],
                custom={"type": "guide", "guide_id": guide_id, "title": text["title"], "steps": cards,
                        "mode": "standard", **links},
            )
            return [SlotSet("guide_step", None)]
        n = int(tracker.get_slot("guide_step") or 1)
        n = min(max(n, 1), len(steps))
        step = steps[n - 1]
        last = n == len(steps)
        buttons = [{"title": DONE[lang], "payload": "/affirm"}, {"title": NOT_WORKING[lang], "payload": "/deny"},
                   {"title": HUMAN[lang], "payload": "/request_human"}]
        if last:
            buttons.insert(0, {"title": OPEN_APP[lang], "payload": links["deep_link"]})
        dispatcher.utter_message(
            text=f"{STEP[lang].format(n=n, of=len(steps))}：{step.get('plain') or step['text']}",
            image=image_url(step["image"]),
            buttons=buttons,
            custom={"type": "guide_step", "guide_id": guide_id, "title": text["title"], "n": n, "of": len(steps),
                    "text": step.get("plain") or step["text"], "image": image_url(step["image"]), "mode": "care",
                    "large": True, "pacing_ms": CARE_PACING_MS, **links},
        )
        return [SlotSet("guide_step", None if last else float(n + 1))]


class ActionHandoff(Action):
    """Tell the customer a person is taking over; the runtime has queued the conversation."""

    def name(self) -> str:
        """Action name."""
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """Announce the handoff honestly: people ahead (0 = next), the wait, or that nobody is online."""
        position = tracker.get_slot("queue_position")
        eta = tracker.get_slot("queue_eta_seconds")
        online = tracker.get_slot("agents_online")
        lang = _lang(tracker)
        leave = {"zh": "留言，稍后回复我", "en": "Leave a message instead"}[lang]
        callback = {"zh": "预约回电", "en": "Request a callback"}[lang]
        buttons = [{"title": leave, "payload": "/leave_message"}]
        status = "queued"
        if online == 0:
            status = "no_agents"
            buttons.append({"title": callback, "payload": "/request_callback"})
            dispatcher.utter_message(response="utter_handoff_no_agents", buttons=buttons)
        elif position is None:
            dispatcher.utter_message(response="utter_handoff", buttons=buttons)
        elif int(position) == 0:
            dispatcher.utter_message(response="utter_handoff_queued_next", buttons=buttons)
        else:
            minutes = max(1, round((eta or 0) / 60))
            dispatcher.utter_message(response="utter_handoff_queued", buttons=buttons, ahead=int(position),
                                     eta_min=minutes)
        dispatcher.utter_message(custom={"type": "handoff", "status": status, "queue_position": position,
                                         "eta_seconds": eta, "agents_online": online, "agent": None,
                                         "to_skill": None, "priority": tracker.get_slot("handoff_priority"),
                                         "reason": tracker.get_slot("handoff_reason")})
        return [SlotSet("handoff_status", "queued")]


class ActionSurvey(Action):
    """Ask for a 1–5 satisfaction score (and a reason when it is 3 or lower)."""

    def name(self) -> str:
        """Action name."""
        return "action_survey"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """Send the survey card."""
        lang = _lang(tracker)
        dispatcher.utter_message(response="utter_survey",
                                 custom={"type": "survey", "scale": [1, 2, 3, 4, 5], "reasons": SURVEY_REASONS[lang],
                                         "ask_reason_at_or_below": 3})
        return [SlotSet("survey_pending", True)]


class ActionCreateTicket(Action):
    """Log a follow-up ticket (callback / result notice) and tell the customer its number."""

    def name(self) -> str:
        """Action name."""
        return "action_create_ticket"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """Create the ticket id and confirm it."""
        digest = hashlib.sha256(f"{tracker.sender_id}:{time.time_ns()}".encode()).hexdigest()[:8].upper()
        ticket_id = f"T{digest}"
        dispatcher.utter_message(response="utter_ticket_created", ticket_id=ticket_id)
        return [SlotSet("ticket_id", ticket_id)]
