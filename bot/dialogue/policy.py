"""Dialogue policy: from the parse result and the conversation state, decide what the bot does.

It follows the bank's service loop — intake → emotion recognition → need confirmation → soothing →
solution → follow-up — and returns a list of :class:`Step` for the runtime to execute:
``utter`` a domain response, run a rasa-sdk ``action``, set a ``slot``, or ``handoff`` to a human.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .identity import find_code

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "data" / "dialogue" / "policy.yml"
NOT_WORKING = re.compile(
    r"还是不行|还不行|不行啊|没用|没解决|没成功|还是没|搞不定|弄不好|不管用|"
    r"still (?:not|doesn'?t|didn'?t|can'?t)|didn'?t work|doesn'?t work|not working|still broken",
    re.IGNORECASE,
)
DONE_WORDS = re.compile(r"^(?:好了|做好了|弄好了|完成了|下一步|继续|ok|done|next|好的)[!！。.~]*$", re.IGNORECASE)
SHOUTING = re.compile(r"[!！]{3,}")
BUSINESS_META = {"greet", "goodbye", "thanks", "affirm", "deny", "request_human", "complaint", "out_of_scope"}


@dataclass
class Step:
    """One thing the bot does in a turn."""

    kind: str  # "utter" | "action" | "slot" | "handoff" | "state"
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class PolicyConfig:
    """Thresholds of the policy (documented defaults)."""

    confirm_threshold: float = 0.6
    distress_soothe: float = 0.5
    distress_handoff: float = 0.85
    elderly_care: float = 0.5
    failures_before_handoff: int = 2
    clarifications_before_handoff: int = 3
    otp_tries: int = 3


class Policy:
    """Decides the bot's steps for one user turn."""

    def __init__(self, policy_path: str | Path = DEFAULT_POLICY, guide_ids: set[str] | None = None,
                 config: PolicyConfig | None = None) -> None:
        """Load per-intent rules from ``data/dialogue/policy.yml``."""
        doc = yaml.safe_load(Path(policy_path).read_text(encoding="utf-8")) or {}
        self.intents: dict[str, dict[str, Any]] = doc.get("intents", {})
        self.guide_ids = guide_ids or set()
        self.config = config or PolicyConfig()

    # ------------------------------------------------------------------ helpers
    def title(self, intent: str, lang: str) -> str:
        """Customer-facing name of an intent."""
        t = self.intents.get(intent, {}).get("title", {})
        return str(t.get(lang) or t.get("zh") or intent)

    def needs_identity(self, intent: str) -> bool:
        """Whether the intent needs an OTP first."""
        return bool(self.intents.get(intent, {}).get("identity_check"))

    def guide_for(self, intent: str) -> str | None:
        """The guide answering ``intent``, if any."""
        gid = self.intents.get(intent, {}).get("guide", intent)
        return gid if gid in self.guide_ids else None

    # ------------------------------------------------------------------ care state
    def update_care(self, state: dict[str, Any], parse: dict[str, Any], text: str) -> list[str]:
        """Combine message scores with conversation signals; returns the signals that fired."""
        care = parse.get("care", {})
        fired: list[str] = []
        if care.get("elderly", 0) >= self.config.elderly_care:
            fired.append("elderly_message")
        distressed = care.get("distressed", 0) >= self.config.distress_soothe
        if distressed:
            fired.append("distressed_message")
        letters = [c for c in text if c.isalpha() and c.isascii()]
        if SHOUTING.search(text) or (len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7):
            fired.append("shouting")
        if NOT_WORKING.search(text) and state.get("guides_shown"):
            fired.append("still_not_working")
        history = state.setdefault("intent_history", [])
        name = parse.get("intent", {}).get("name")
        if name and name not in BUSINESS_META and history.count(name) >= 2:
            fired.append("repeated_question")
        if state.get("clarifications", 0) >= 2:
            fired.append("failed_clarifications")
        if state.get("seconds_since_last", 0) > 180 and len(text.strip()) <= 4 and not parse.get("from_button"):
            fired.append("short_reply_after_wait")
        if "distressed_message" in fired or "shouting" in fired:
            state["distressed"] = True
        state["last_care_signals"] = fired
        state.setdefault("distress_trend", []).append(round(float(care.get("distressed", 0.0)), 3))
        state["distress_trend"] = state["distress_trend"][-20:]
        reasons = state.setdefault("care_reasons", [])
        for f in fired:
            if f not in reasons:
                reasons.append(f)
        if not state.get("care_mode") and ("elderly_message" in fired or (
                "distressed_message" in fired and {"still_not_working", "repeated_question", "shouting"} & set(fired))):
            state["care_mode"] = True
            state["care_mode_turned_on"] = True
        return fired

    # ------------------------------------------------------------------ decide
    def decide(self, state: dict[str, Any], parse: dict[str, Any], text: str) -> list[Step]:
        """The steps of this turn; also updates ``state`` (pending questions, counters)."""
        lang = state.get("language", "zh")
        steps: list[Step] = []
        state.pop("care_mode_turned_on", None)
        fired = self.update_care(state, parse, text)
        intent = parse["intent"]["name"]
        conf = float(parse["intent"]["confidence"])
        distress = float(parse.get("care", {}).get("distressed", 0.0))
        if state.get("care_mode_turned_on"):
            steps.append(Step("utter", "utter_care_on", {"custom": {"type": "care_mode", "on": True,
                                                                    "reasons": list(state.get("care_reasons", []))}}))
            steps.append(Step("slot", "care_mode", {"value": True}))
        soothed = False
        if "distressed_message" in fired and intent != "request_human":
            steps.append(Step("utter", "utter_soothe"))
            soothed = True

        if intent == "leave_message" and parse.get("from_button"):
            state["pending"] = {"type": "leave_message"}
            return steps + [Step("utter", "utter_ask_leave_message")]
        if intent == "request_human":
            return steps + self._handoff(state, "asked")
        if intent == "complaint":
            if not soothed:
                steps.append(Step("utter", "utter_soothe"))
            return steps + self._handoff(state, "complaint")
        if distress >= self.config.distress_handoff:
            return steps + self._handoff(state, "distress")

        pending = state.get("pending") or {}
        handled = self._pending(state, pending, parse, text, steps)
        if handled is not None:
            return handled
        state["pending"] = None

        if parse.get("multi_intent"):
            items = [m["name"] for m in parse["multi_intent"]]
            state["queue"] = items[1:]
            return steps + self._solve(state, items[0])
        if parse.get("fallback") or intent == "out_of_scope":
            if fired and ("elderly_message" in fired or soothed):
                # the message was about the customer, not a request: invite the need, don't clarify
                return steps + [Step("utter", "utter_how_can_help")]
            return steps + self._clarify(state, parse)
        if intent == "greet":
            return steps + [Step("utter", "utter_greet")]
        if intent == "thanks":
            return steps + [Step("utter", "utter_you_are_welcome")]
        if intent == "goodbye":
            return steps + [Step("utter", "utter_goodbye")] + self._survey(state)
        if intent in ("affirm", "deny"):
            return steps + [Step("utter", "utter_rephrase" if intent == "deny" else "utter_glad")]
        if conf < self.config.confirm_threshold and not parse.get("from_button"):
            state["pending"] = {"type": "confirm", "intent": intent}
            yes, no = ("是的", "不是") if lang == "zh" else ("Yes", "No")
            return steps + [Step("utter", "utter_confirm_intent", {
                "title": self.title(intent, lang),
                "buttons": [{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}]})]
        return steps + self._solve(state, intent)

    def _pending(self, state: dict[str, Any], pending: dict[str, Any], parse: dict[str, Any], text: str,
                 steps: list[Step]) -> list[Step] | None:
        """Answer a question the bot asked last turn; ``None`` if the message is about something else."""
        kind = pending.get("type")
        intent = parse["intent"]["name"]
        said_no = intent == "deny" or bool(NOT_WORKING.search(text))
        said_yes = intent == "affirm" or bool(DONE_WORDS.match(text.strip()))
        if kind == "confirm":
            if said_yes:
                state["pending"] = None
                return steps + self._solve(state, pending["intent"])
            if said_no:
                state["pending"] = None
                state["clarifications"] = state.get("clarifications", 0) + 1
                return steps + [Step("utter", "utter_rephrase")]
            return None
        if kind == "otp":
            code = find_code(text)
            if code is not None:
                return steps + [Step("verify_otp", pending["intent"], {"code": code})]
            if intent in BUSINESS_META or parse["intent"]["confidence"] < self.config.confirm_threshold:
                tries = pending.get("tries", 0) + 1
                if tries >= self.config.otp_tries:
                    return steps + self._handoff(state, "identity_check")
                state["pending"] = {**pending, "tries": tries}
                return steps + [Step("utter", "utter_otp_retry")]
            return None
        if kind == "care_steps":
            if said_no:
                return steps + self._failure(state, pending)
            if said_yes:
                return steps + [Step("action", "action_show_guide", {"after": "care_steps", "pending": pending})]
            return None
        if kind == "followup":
            if said_no:
                return steps + self._failure(state, pending)
            if said_yes:
                state["pending"] = None
                state["failures"] = 0
                state.setdefault("resolved", []).append(pending.get("intent"))
                return steps + [Step("utter", "utter_glad")]
            return None
        if kind == "leave_message":
            state["pending"] = None
            return steps + [Step("leave_message", "callback", {"text": text})]
        if kind == "survey":
            return None
        return None

    def _failure(self, state: dict[str, Any], pending: dict[str, Any]) -> list[Step]:
        state["failures"] = state.get("failures", 0) + 1
        state["pending"] = None
        limit = self.config.failures_before_handoff - (1 if self._fragile(state) else 0)
        if state["failures"] >= limit:
            return self._handoff(state, "repeated_failure")
        lang = state.get("language", "zh")
        stepwise = "一步一步来" if lang == "zh" else "Step by step"
        human = "转人工" if lang == "zh" else "Talk to a person"
        buttons = [{"title": human, "payload": "/request_human"}]
        if pending.get("intent"):
            buttons.insert(0, {"title": stepwise, "payload": f"/{pending['intent']}"})
            state["stepwise"] = True  # the retry goes one step at a time
        return [Step("utter", "utter_try_again", {"buttons": buttons})]

    def _clarify(self, state: dict[str, Any], parse: dict[str, Any]) -> list[Step]:
        lang = state.get("language", "zh")
        if parse["intent"]["name"] == "out_of_scope" and not parse.get("fallback"):
            return [Step("utter", "utter_out_of_scope")]
        state["clarifications"] = state.get("clarifications", 0) + 1
        limit = self.config.clarifications_before_handoff - (1 if self._fragile(state) else 0)
        if state["clarifications"] >= limit:
            return self._handoff(state, "low_confidence")
        options = [r["name"] for r in parse.get("intent_ranking", []) if r["name"] in self.intents][:3]
        buttons = [{"title": self.title(o, lang), "payload": f"/{o}"} for o in options]
        buttons.append({"title": "转人工" if lang == "zh" else "Talk to a person", "payload": "/request_human"})
        return [Step("utter", "utter_clarify", {"buttons": buttons})]

    def _solve(self, state: dict[str, Any], intent: str) -> list[Step]:
        """The solution step for a business intent: handoff, identity check, guide or info."""
        lang = state.get("language", "zh")
        state.setdefault("intent_history", []).append(intent)
        state["intent_history"] = state["intent_history"][-30:]
        rules = self.intents.get(intent, {})
        if rules.get("handoff"):
            return [Step("utter", "utter_info_no_guide", {"title": self.title(intent, lang)})] + \
                self._handoff(state, "policy")
        if self.needs_identity(intent) and state.get("visitor"):
            return [Step("utter", "utter_login_required", {"title": self.title(intent, lang)})]
        if self.needs_identity(intent) and not state.get("verified"):
            state["pending"] = {"type": "otp", "intent": intent, "tries": 0}
            return [Step("send_otp", intent), Step("utter", "utter_ask_otp", {"custom": {"type": "otp", "length": 6}})]
        return self._guide(state, intent)

    def _guide(self, state: dict[str, Any], intent: str) -> list[Step]:
        lang = state.get("language", "zh")
        gid = self.guide_for(intent)
        if gid is None:
            return [Step("utter", "utter_info_no_guide", {"title": self.title(intent, lang)})] + \
                self._handoff(state, "policy")
        shown = state.setdefault("guides_shown", [])
        shown.append(gid)
        steps = [Step("slot", "guide_id", {"value": gid})]
        if state.get("care_mode") or state.get("stepwise"):
            steps += [Step("slot", "guide_step", {"value": 1.0}),
                      Step("action", "action_show_guide", {"after": "care_steps",
                                                           "pending": {"type": "care_steps", "intent": intent,
                                                                       "guide": gid}})]
            return steps
        steps.append(Step("action", "action_show_guide", {}))
        queue = state.get("queue") or []
        if queue:
            state["queue"] = queue[1:]
            return steps + self._solve(state, queue[0])
        return steps + self._followup(state, intent, gid)

    def after_otp(self, state: dict[str, Any], intent: str, ok: bool) -> list[Step]:
        """Continue after the OTP was checked."""
        if ok:
            state["verified"] = True
            state["pending"] = None
            return [Step("utter", "utter_otp_ok")] + self._guide(state, intent)
        pending = state.get("pending") or {"type": "otp", "intent": intent, "tries": 0}
        tries = pending.get("tries", 0) + 1
        if tries >= self.config.otp_tries:
            state["pending"] = None
            return self._handoff(state, "identity_check")
        state["pending"] = {**pending, "tries": tries}
        return [Step("utter", "utter_otp_retry")]

    def after_care_step(self, state: dict[str, Any], pending: dict[str, Any], finished: bool) -> list[Step]:
        """After a care-mode step: wait for "做好了", or ask the follow-up after the last one."""
        if not finished:
            state["pending"] = pending
            return []
        return self._followup(state, pending.get("intent"), pending.get("guide"))

    @staticmethod
    def _followup(state: dict[str, Any], intent: str | None, guide: str | None) -> list[Step]:
        """Ask "did this solve it?" after a solution, with yes / still-not-working buttons."""
        state["pending"] = {"type": "followup", "intent": intent, "guide": guide}
        zh = state.get("language", "zh") == "zh"
        yes, no = ("解决了", "还是不行") if zh else ("Yes, solved", "Still not working")
        return [Step("utter", "utter_followup", {"buttons": [{"title": yes, "payload": "/affirm"},
                                                              {"title": no, "payload": "/deny"}]})]

    @staticmethod
    def _fragile(state: dict[str, Any]) -> bool:
        """Care mode or distress seen: the path to a human gets shorter."""
        return bool(state.get("care_mode") or state.get("distressed"))

    def _handoff(self, state: dict[str, Any], reason: str) -> list[Step]:
        state["pending"] = None
        return [Step("handoff", reason)]

    def _survey(self, state: dict[str, Any]) -> list[Step]:
        if state.get("survey_done"):
            return []
        state["pending"] = {"type": "survey"}
        return [Step("action", "action_survey", {})]
