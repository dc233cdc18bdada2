"""Typed dialogue state: handoff status, step kinds and the pending-question union.

The tracker store keeps the state as JSON; :func:`pending_from_dict` / :meth:`Pending.to_dict`
and :class:`DialogueState` convert between the stored form and these types. The handoff service is
the only writer of :class:`HandoffStatus` (through ``BotLink.handoff_changed``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal


class HandoffStatus(StrEnum):
    """Who has the conversation."""

    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"

    @property
    def with_human_side(self) -> bool:
        """Queued or assigned: the bot stays silent except for honest queue updates."""
        return self in (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)


class StepKind(StrEnum):
    """What one policy step does."""

    UTTER = "utter"
    ACTION = "action"
    SLOT = "slot"
    HANDOFF = "handoff"
    SEND_OTP = "send_otp"
    VERIFY_OTP = "verify_otp"
    LEAVE_MESSAGE = "leave_message"
    BANK = "bank"
    SURVEY = "survey"


#: a pending question older than this many turns or seconds expires
PENDING_MAX_TURNS = 4
PENDING_MAX_SECONDS = 600.0


@dataclass
class _PendingBase:
    """Common fields: when the question was asked."""

    intent: str | None = None
    asked_at: float = field(default_factory=time.time)
    turns: int = 0

    def expired(self, now: float | None = None) -> bool:
        """More than a few turns or 10 minutes old."""
        now = time.time() if now is None else now
        return self.turns > PENDING_MAX_TURNS or now - self.asked_at > PENDING_MAX_SECONDS

    def to_dict(self) -> dict[str, Any]:
        """The stored form (with its ``type`` tag)."""
        return {"type": self.type, **asdict(self)}  # type: ignore[attr-defined]


@dataclass
class ConfirmPending(_PendingBase):
    """"您是想…吗？" is waiting for yes/no."""

    type: Literal["confirm"] = "confirm"


@dataclass
class OtpPending(_PendingBase):
    """The code step: waiting for the SMS code."""

    type: Literal["otp"] = "otp"
    tries: int = 0
    misses: int = 0


@dataclass
class CareStepsPending(_PendingBase):
    """One guide step at a time: waiting for "做好了"."""

    type: Literal["care_steps"] = "care_steps"
    guide: str | None = None


@dataclass
class FollowupPending(_PendingBase):
    """"解决了吗？" after a solution."""

    type: Literal["followup"] = "followup"
    guide: str | None = None


@dataclass
class LeaveMessagePending(_PendingBase):
    """Waiting for the text of a message/callback request."""

    type: Literal["leave_message"] = "leave_message"
    kind: str = "callback"


@dataclass
class SurveyPending(_PendingBase):
    """The 1–5 survey is on screen."""

    type: Literal["survey"] = "survey"


@dataclass
class ResumePending(_PendingBase):
    """After a digression: "shall we go back to …?"."""

    type: Literal["resume"] = "resume"
    resume: dict[str, Any] = field(default_factory=dict)


@dataclass
class HandoffOfferPending(_PendingBase):
    """The bot offered a person (after a second miss, or no agents online)."""

    type: Literal["handoff_offer"] = "handoff_offer"


Pending = (ConfirmPending | OtpPending | CareStepsPending | FollowupPending | LeaveMessagePending
           | SurveyPending | ResumePending | HandoffOfferPending)
_KINDS: dict[str, type[_PendingBase]] = {
    "confirm": ConfirmPending, "otp": OtpPending, "care_steps": CareStepsPending, "followup": FollowupPending,
    "leave_message": LeaveMessagePending, "survey": SurveyPending, "resume": ResumePending,
    "handoff_offer": HandoffOfferPending}


def pending_from_dict(data: dict[str, Any] | None) -> Pending | None:
    """The typed pending question from its stored form (unknown shapes read as none)."""
    if not data or data.get("type") not in _KINDS:
        return None
    cls = _KINDS[data["type"]]
    fields = getattr(cls, "__dataclass_fields__", {})
    known = {k: v for k, v in data.items() if k in fields and k != "type"}
    return cls(**known)  # type: ignore[return-value]


@dataclass
class DialogueState:
    """The typed core of a conversation's state (the stored JSON keeps further counters)."""

    language: str = "zh"
    #: "hans" or "hant" (traditional Chinese customers get traditional replies)
    script: str = "hans"
    handoff_status: HandoffStatus = HandoffStatus.BOT
    pending: Pending | None = None
    verified: bool = False
    care_mode: bool = False
    fast_mode: bool = False
    misses: int = 0
    last_bot_text: str | None = None

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> DialogueState:
        """Read the typed fields out of the stored state."""
        try:
            status = HandoffStatus(state.get("handoff_status") or "bot")
        except ValueError:
            status = HandoffStatus.BOT
        return cls(language=state.get("language", "zh"), script=state.get("script", "hans"),
                   handoff_status=status, pending=pending_from_dict(state.get("pending")),
                   verified=bool(state.get("verified")), care_mode=bool(state.get("care_mode")),
                   fast_mode=bool(state.get("fast_mode")), misses=int(state.get("misses", 0)),
                   last_bot_text=state.get("last_bot_text"))

    def write(self, state: dict[str, Any]) -> None:
        """Write the typed fields back into the stored state."""
        state.update({"language": self.language, "script": self.script,
                      "handoff_status": self.handoff_status.value,
                      "pending": self.pending.to_dict() if self.pending else None,
                      "verified": self.verified, "care_mode": self.care_mode, "fast_mode": self.fast_mode,
                      "misses": self.misses, "last_bot_text": self.last_bot_text})
