"""How urgent a handed-off chat is, and how the customer is named to agents.

Levels, most urgent first: ``fraud`` (fraud or an emergency such as a stolen card) > ``distressed`` >
``elderly`` > ``waiting_long`` > ``none``. The distress threshold is set so that a calm request for a person
(the care head scores "人工客服" at about 0.70 and the bot then raises ``distressed_message``) is not flagged:
a chat is distressed on shouting, a distress or complaint handoff, or when the distress trend of the last three
messages reaches :data:`DISTRESS_THRESHOLD`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Urgency(StrEnum):
    """Urgency levels; the order of the members is the order of the chat list."""

    FRAUD = "fraud"
    DISTRESSED = "distressed"
    ELDERLY = "elderly"
    WAITING_LONG = "waiting_long"
    NONE = "none"

    @property
    def rank(self) -> int:
        """0 for the most urgent level."""
        return list(Urgency).index(self)


DISTRESS_THRESHOLD = 0.85
WAITING_LONG_SECONDS = 120.0
FRAUD_WORDS = re.compile(r"诈骗|骗子|被骗|骗了|盗刷|被盗|冒充|陌生.{0,6}验证码|钱被转走|fraud|scam|stolen|hacked|"
                         r"someone took my money", re.IGNORECASE)
FRAUD_INTENTS = {"report_lost_card"}
#: signals that mean distress on their own; the bot's ``distressed_message`` (raised from a care score of 0.5)
#: also fires on calm requests, so it counts only together with the trend threshold
DISTRESS_SIGNALS = {"shouting"}


@dataclass(frozen=True)
class UrgencyInfo:
    """The level and the reasons an agent sees for it."""

    level: Urgency
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``{"level": ..., "rank": ..., "reasons": [...]}``."""
        return {"level": self.level.value, "rank": self.level.rank, "reasons": list(self.reasons)}


def urgency(context: dict[str, Any], reason: str, waited_seconds: float,
            customer_texts: list[str] | None = None) -> UrgencyInfo:
    """The urgency of a chat from its context package (and any later customer messages)."""
    texts = [str(t.get("text", "")) for t in context.get("transcript", []) if t.get("from") == "customer"]
    texts += customer_texts or []
    intents = {str(i.get("intent")) for i in context.get("intents", []) if isinstance(i, dict)}
    raw_care = context.get("care")
    care: dict[str, Any] = raw_care if isinstance(raw_care, dict) else {}
    signals = set(care.get("signals") or [])
    trend = [float(x) for x in care.get("distress_trend") or [] if isinstance(x, (int, float))]
    found: list[tuple[Urgency, str]] = []
    if any(FRAUD_WORDS.search(t) for t in texts):
        found.append((Urgency.FRAUD, "fraud_words"))
    if intents & FRAUD_INTENTS:
        found.append((Urgency.FRAUD, "emergency_intent"))
    if signals & DISTRESS_SIGNALS:
        found.append((Urgency.DISTRESSED, "distress_signal"))
    if reason in ("distress", "complaint"):
        found.append((Urgency.DISTRESSED, reason))
    if trend and max(trend[-3:]) >= DISTRESS_THRESHOLD:
        found.append((Urgency.DISTRESSED, "distress_trend"))
    if "elderly_message" in signals or care.get("care_mode"):
        found.append((Urgency.ELDERLY, "elderly"))
    if waited_seconds >= WAITING_LONG_SECONDS:
        found.append((Urgency.WAITING_LONG, "waiting_long"))
    if not found:
        return UrgencyInfo(Urgency.NONE, ())
    level = min((u for u, _ in found), key=lambda u: u.rank)
    return UrgencyInfo(level, tuple(dict.fromkeys(r for _, r in found)))


def chat_urgency(chat: dict[str, Any], now: float | None = None) -> UrgencyInfo:
    """Urgency of a session dict (``session_dict``): waiting time counts from the last (re)queue."""
    now = now or time.time()
    waited = now - float(chat.get("queued_at") or chat.get("created_at") or now) if chat.get("status") == "queued" \
        else float(chat.get("wait_seconds") or 0)
    return urgency(chat.get("context") or {}, str(chat.get("reason") or ""), waited)


def customer_names(sender_id: str, context: dict[str, Any]) -> tuple[str, str]:
    """(display name, salutation): the bank's name for the customer, else "客户" + a masked id tail.

    The salutation is what a phrase's ``{customer_name}`` becomes: the real name, or empty when there is none.
    """
    real = str(context.get("customer_name") or "").strip()
    if real:
        return real, real
    tail = sender_id[-4:] if len(sender_id) >= 4 else sender_id
    return f"客户**{tail}", ""
