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

from .flows import FlowEngine
from .identity import find_code
from .script import to_simplified
from .state import (
    ConfirmPending,
    FollowupPending,
    HandoffOfferPending,
    HandoffStatus,
    LeaveMessagePending,
    OtpPending,
    ResumePending,
    StepKind,
    SurveyPending,
    pending_from_dict,
)

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "data" / "dialogue" / "policy.yml"
NOT_WORKING = re.compile(
    r"还是不行|还不行|不行啊|没用|没解决|没成功|还是没|搞不定|弄不好|不管用|"
    r"still (?:not|doesn'?t|didn'?t|can'?t)|didn'?t work|doesn'?t work|not working|still broken",
    re.IGNORECASE,
)
DONE_WORDS = re.compile(r"^(?:好了|做好了|弄好了|完成了|下一步|继续|ok|done|next|好的)[!！。.~]*$", re.IGNORECASE)
SHOUTING = re.compile(r"[!！]{3,}")
_I = re.IGNORECASE
CANCEL = re.compile(r"算了|不弄了|不办了|不查了|不用了|不要了|不需要了|先不(?:弄|办|查|用|要)|我先看看别的|"
                    r"以后再说|等会再说|"
                    r"取消|\bcancel|never ?mind|forget (?:it|about it)|\bnvm\b|\bstop\b|not now|skip (?:it|this)", _I)
CORRECTION = re.compile(r"^(?:不是|不对|错了|说错了|我是说|我的意思是|我说的是|我要的是|"
                        r"i mean|i meant|no,? i|actually|sorry,? i)", _I)
CHITCHAT = re.compile(r"你是(?:机器人|真人|谁)|你叫什么|你好吗|哈哈|呵呵|are you (?:a )?(?:bot|robot|human|real)|"
                      r"who are you|how are you|\blol\b|haha", _I)
CLARIFY = re.compile(r"什么意思|啥意思|没听懂|不明白|看不懂|听不懂|什么验证码|哪个验证码|验证码是什么|"
                     r"what do you mean|i don'?t understand|what code|which code|confus|what'?s that", _I)
NO_SMS = re.compile(r"收不到|没收到|没有收到|没有短信|没短信|手机号(?:停用|不用|换)|旧手机|换了号|号码停用|"
                    r"didn'?t (?:get|receive)|never got|no (?:sms|code|text)|not (?:getting|receiving)|"
                    r"old (?:phone|number)", _I)
HUMAN = re.compile(r"转人工|人工客服|找人工|要人工|真人客服|客服人员|talk to (?:a )?(?:person|human|agent)|real person|"
                   r"human agent|speak to (?:a|an) (?:person|human|agent)", _I)
NEGATIVE_HUMAN = re.compile(r"不用(?:转)?人工|不要(?:转)?人工|不要转|不需要人工|不用转|别转|no (?:need|thanks)|"
                            r"don'?t (?:need|want) (?:a )?(?:person|human|agent)|no human|not a (?:person|human)", _I)
HOWTO = re.compile(r"怎么|如何|怎样|在哪|哪里|步骤|教我|how (?:do|can|to|should)|where (?:do|can|is)|steps", _I)
FRAUD = re.compile(r"自称(?:是)?(?:客服|银行|警察|公安)|共享屏幕|屏幕共享|让我下载|下载.{0,6}(?:软件|app)|刷我的卡|"
                   r"盗刷|被骗|骗子|诈骗|有人在(?:用|刷|盗)|scam|fraud|screen ?shar|share (?:my|the) screen|"
                   r"remote access|"
                   r"anydesk|teamviewer|(?:saying|claim\w*|pretend\w*) (?:they were|to be) (?:from )?(?:the )?bank|"
                   r"someone is using my card|"
                   r"hacked|被盗", _I)
LOST = re.compile(r"卡(?:丢|掉|被偷|不见|被抢)|丢了(?:银行)?卡|钱包(?:丢|被偷|不见)|(?:lost|stolen).{0,12}card|"
                  r"card.{0,12}(?:lost|stolen|missing)", _I)
CHARGE_NOW = re.compile(r"(?:刚才|刚刚|正在|一直在|不停).{0,8}(?:扣钱|扣款|被扣|刷卡|消费)|"
                        r"(?:being|getting|just (?:got )?) ?charged|charg(?:es|ing) (?:right )?now", _I)
SURVEY_SCORE = re.compile(r"^\s*([1-5])\s*(?:分|星|stars?)?\s*$", _I)
EMOJI_ONLY = re.compile(r"^[\W\d_]+$")


def _noise(text: str) -> bool:
    """Only emoji, punctuation or digits (outside the code step): nothing to act on."""
    return bool(text) and bool(EMOJI_ONLY.match(text)) and not SURVEY_SCORE.match(text)
BUSINESS_META = {"greet", "goodbye", "thanks", "affirm", "deny", "request_human", "complaint", "out_of_scope"}


@dataclass
class Step:
    """One thing the bot does in a turn."""

    kind: str  # a StepKind value
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
        self.flows = FlowEngine()

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
        if not state.get("care_mode") and "elderly_message" in fired:
            # the slow, one-step-at-a-time mode is for elderly customers; distress gets the fast mode
            state["care_mode"] = True
            state["care_mode_turned_on"] = True
        return fired

    # ------------------------------------------------------------------ decide
    def emergency(self, parse: dict[str, Any], text: str) -> str | None:
        """``fraud`` / ``lost_card`` when the message is an emergency (lost card, charge now, fraud scare)."""
        t = to_simplified(text)
        intent = parse.get("intent", {}).get("name")
        if FRAUD.search(t) or CHARGE_NOW.search(t):
            return "fraud"
        if LOST.search(t) and not HOWTO.search(t):
            return "lost_card"
        distress = float(parse.get("care", {}).get("distressed", 0.0))
        if intent == "report_lost_card" and (distress >= self.config.distress_soothe or SHOUTING.search(t)):
            return "lost_card"
        if intent in ("unknown_charge", "dispute_charge") and distress >= self.config.distress_soothe:
            return "fraud"
        return None

    def emergency_steps(self, state: dict[str, Any], kind: str) -> list[Step]:
        """Action first: freeze button + 24h hotline, then a fraud-flagged top-priority handoff."""
        state["fast_mode"] = True
        state["emergency"] = kind
        lang = state.get("language", "zh")
        buttons = [{"title": "立即冻结" if lang == "zh" else "Freeze now", "payload": "/freeze_card"},
                   {"title": "拨打24小时热线 95555" if lang == "zh" else "Call 24h hotline 95555",
                    "payload": "tel:95555"}]
        custom = {"type": "emergency", "kind": kind, "hotline": "95555", "freeze_payload": "/freeze_card",
                  "deep_link": "bankapp://cards/freeze"}
        state.setdefault("slots", {})["emergency"] = kind
        state["flow_stack"] = []
        self.flows.start(state, "card_emergency")  # the process is data: data/flows/flows.yml
        steps: list[Step] = []
        human_side = HandoffStatus(state.get("handoff_status") or "bot").with_human_side
        for step_kind, name, args in self.flows.advance(state):
            if step_kind == StepKind.UTTER:
                steps.append(Step(StepKind.UTTER, name, {"buttons": buttons, "custom": custom}))
            elif step_kind == StepKind.HANDOFF:
                priority = str(args.get("priority", "urgent"))
                if human_side:
                    steps.append(Step(StepKind.HANDOFF, kind, {"raise": True, "priority": priority}))
                else:
                    steps += self._handoff(state, kind, priority=priority)
            else:
                steps.append(Step(step_kind, name, args))
        return steps

    def _expire(self, state: dict[str, Any]) -> None:
        """A pending question older than a few turns or 10 minutes expires."""
        pending = pending_from_dict(state.get("pending"))
        if pending is None:
            state["pending"] = None
            return
        pending.turns += 1
        if pending.expired() and pending.type != "leave_message":
            state["pending"] = None
            state["expired_pending"] = pending.type
            return
        stored = pending.to_dict()
        state["pending"] = {**(state.get("pending") or {}), **stored}

    def decide(self, state: dict[str, Any], parse: dict[str, Any], text: str) -> list[Step]:
        """The steps of this turn; also updates ``state`` (pending questions, counters)."""
        lang = state.get("language", "zh")
        steps: list[Step] = []
        state.pop("care_mode_turned_on", None)
        state.pop("expired_pending", None)
        fired = self.update_care(state, parse, text)
        self._expire(state)
        t = to_simplified(text).strip()
        intent = parse["intent"]["name"]
        conf = float(parse["intent"]["confidence"])
        distress = float(parse.get("care", {}).get("distressed", 0.0))
        if state.get("care_mode_turned_on"):
            steps.append(Step("utter", "utter_care_on", {"custom": {"type": "care_mode", "on": True,
                                                                    "reasons": list(state.get("care_reasons", []))}}))
            steps.append(Step("slot", "care_mode", {"value": True}))
        if parse.get("from_button") and intent == "freeze_card":
            return steps + [Step(StepKind.BANK, "freeze")]
        kind = self.emergency(parse, text)
        if kind is not None:
            return steps + self.emergency_steps(state, kind)
        soothed = False
        if "distressed_message" in fired and intent != "request_human" and not state.get("fast_mode"):
            steps.append(Step("utter", "utter_soothe"))
            soothed = True
        if "distressed_message" in fired:
            state["fast_mode"] = True

        if intent in ("leave_message", "request_callback") and parse.get("from_button"):
            state["pending"] = LeaveMessagePending(kind="callback" if intent == "request_callback"
                                                   else "message").to_dict()
            return steps + [Step("utter", "utter_ask_leave_message")]
        also = {m["name"] for m in parse.get("multi_intent") or []}
        wants_human = intent == "request_human" or "request_human" in also or bool(HUMAN.search(t))
        if wants_human and not NEGATIVE_HUMAN.search(t):
            return steps + self._handoff(state, "asked")
        if intent == "complaint" or "complaint" in also:
            if not soothed:
                steps.append(Step("utter", "utter_soothe"))
            return steps + self._handoff(state, "complaint")
        if distress >= self.config.distress_handoff and "still_not_working" not in fired:
            # "还是不行" after a guide sounds upset, but the repair ladder owns that turn: one step at a
            # time first, then a person (with the soothing above)
            return steps + self._handoff(state, "distress")

        pending = state.get("pending") or {}
        handled = self._pending(state, pending, parse, text, steps)
        if handled is not None:
            return handled
        if pending.get("type") in ("otp", "care_steps", "followup", "confirm") and pending.get("intent"):
            # a digression: remember where we were, offer to resume once the new need is settled
            state["resume"] = {"type": pending["type"], "intent": pending["intent"]}
        state["pending"] = None

        if CANCEL.search(t) and (intent in BUSINESS_META or conf < self.config.confirm_threshold
                                 or parse.get("fallback")):
            state["resume"] = None
            state["queue"] = []
            return steps + [Step("utter", "utter_cancelled")]
        if CHITCHAT.search(t) and (intent in BUSINESS_META or parse.get("fallback")):
            return steps + [Step("utter", "utter_chitchat")]
        if parse.get("multi_intent"):
            items = [m["name"] for m in parse["multi_intent"]]
            if intent in items:
                # the whole message's reading goes first: when the split is wrong (a story clause read as a
                # second request) the customer still gets the answer to what they asked
                items = [intent] + [n for n in items if n != intent]
            state["queue"] = items[1:]
            state["misses"] = 0
            return steps + self._solve(state, items[0], text)
        other = parse.get("other_institution") or {}
        if intent == "out_of_scope" and other.get("name"):
            # another institution's service (WeChat Pay, a courier, another bank): say who can do it and
            # what we can do here; not a miss of ours, so no clarify/handoff ladder
            state["misses"] = 0
            return steps + [Step("utter", "utter_other_institution", {"institution": str(other["name"])})]
        if parse.get("fallback") or intent == "out_of_scope" or _noise(t):
            if fired and ("elderly_message" in fired or soothed) and not _noise(t):
                # the message was about the customer, not a request: invite the need, don't clarify
                return steps + [Step("utter", "utter_how_can_help")]
            return steps + self._miss(state, parse)
        if intent == "greet":
            return steps + [Step("utter", "utter_greet")]
        if intent == "thanks":
            return steps + [Step("utter", "utter_you_are_welcome")]
        if intent == "goodbye":
            return steps + [Step("utter", "utter_goodbye")] + self._survey(state)
        if intent in ("affirm", "deny"):
            return steps + [Step("utter", "utter_rephrase" if intent == "deny" else "utter_glad")]
        state["misses"] = 0
        if conf < self.config.confirm_threshold and not parse.get("from_button") and not CORRECTION.search(t):
            state["pending"] = ConfirmPending(intent=intent).to_dict()
            yes, no = ("是的", "不是") if lang == "zh" else ("Yes", "No")
            return steps + [Step("utter", "utter_confirm_intent", {
                "title": self.title(intent, lang),
                "buttons": [{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}]})]
        # a rule question on a topic that is usually about own data ("退款一般几天到账"): the answer is the
        # rule and where to see it, with no code step
        rule = parse.get("category") == "consultation" and parse.get("topic_category") not in (None, "consultation")
        return steps + self._solve(state, intent, text, rule=rule)

    def _miss(self, state: dict[str, Any], parse: dict[str, Any]) -> list[Step]:
        """Cannot-handle: 1st miss clarifies, 2nd offers a person, 3rd hands off (unless refused)."""
        state["misses"] = state.get("misses", 0) + 1
        misses = state["misses"]
        lang = state.get("language", "zh")
        human = {"title": "转人工" if lang == "zh" else "Talk to a person", "payload": "/request_human"}
        if misses >= 3 and not state.get("declined_human"):
            return self._handoff(state, "low_confidence")
        if misses >= 2 and not state.get("declined_human"):
            state["pending"] = HandoffOfferPending().to_dict()
            leave = {"title": "留言" if lang == "zh" else "Leave a message", "payload": "/leave_message"}
            return [Step("utter", "utter_offer_human", {"buttons": [human, leave]})]
        if misses >= 2:
            return [Step("utter", "utter_offer_human_again", {"buttons": [human]})]
        return self._clarify(state, parse)

    def _pending(self, state: dict[str, Any], pending: dict[str, Any], parse: dict[str, Any], text: str,
                 steps: list[Step]) -> list[Step] | None:
        """Answer a question the bot asked last turn; ``None`` if the message is about something else."""
        kind = pending.get("type")
        intent = parse["intent"]["name"]
        t = to_simplified(text).strip()
        said_no = intent == "deny" or bool(NOT_WORKING.search(t))
        said_yes = intent == "affirm" or bool(DONE_WORDS.match(t))
        conf = float(parse["intent"]["confidence"])
        business = intent not in BUSINESS_META and conf >= self.config.confirm_threshold and not parse.get("fallback")
        cancel = bool(CANCEL.search(t)) and not business
        if kind and cancel and kind != "survey":
            state["pending"] = None
            state["resume"] = None
            return steps + [Step("utter", "utter_cancelled")]
        if kind == "handoff_offer":
            if intent == "affirm":
                return steps + self._handoff(state, "low_confidence")
            if intent == "deny" or NEGATIVE_HUMAN.search(t):
                state["pending"] = None
                state["declined_human"] = True
                state["misses"] = 0
                return steps + [Step("utter", "utter_offer_human_again")]
            return None
        if kind == "resume":
            target = pending.get("resume") or {}
            state["pending"] = None
            if said_yes and target.get("intent"):
                return steps + self._solve(state, target["intent"], "")
            if said_no:
                return steps + [Step("utter", "utter_cancelled")]
            return None
        if kind == "confirm":
            if said_yes:
                state["pending"] = None
                return steps + self._solve(state, pending["intent"], "")
            if said_no:
                state["pending"] = None
                state["clarifications"] = state.get("clarifications", 0) + 1
                return steps + self._miss(state, parse) if state.get("misses", 0) >= 1 else \
                    steps + [Step("utter", "utter_rephrase")]
            return None
        if kind == "otp":
            code = find_code(text)
            if code is not None:
                return steps + [Step("verify_otp", pending["intent"], {"code": code})]
            if NO_SMS.search(t):
                state["pending"] = None
                return steps + [Step("utter", "utter_otp_no_sms")] + self._handoff(state, "identity_check")
            if CLARIFY.search(t):
                return steps + [Step("utter", "utter_clarify_otp", {"buttons": self.otp_buttons(state)})]
            if said_no:
                # "还是不行": leave the code step, a person can verify instead
                state["pending"] = None
                lang = state.get("language", "zh")
                return steps + [Step("utter", "utter_otp_left"), Step("utter", "utter_try_again", {"buttons": [
                    {"title": "转人工" if lang == "zh" else "Talk to a person", "payload": "/request_human"}]})]
            if business or CHITCHAT.search(t) or intent in ("greet", "thanks", "goodbye"):
                return None  # any other request leaves the code step
            if re.fullmatch(r"[\d\s\-]+", t):
                tries = pending.get("tries", 0) + 1
                if tries >= self.config.otp_tries:
                    return steps + self._handoff(state, "identity_check")
                state["pending"] = {**pending, "tries": tries}
                return steps + [Step("utter", "utter_otp_retry", {"buttons": self.otp_buttons(state)})]
            misses = pending.get("misses", 0) + 1
            if misses >= 2:
                state["pending"] = None
                return steps + [Step("utter", "utter_otp_left")] + self._miss(state, parse)
            state["pending"] = {**pending, "misses": misses}
            return steps + [Step("utter", "utter_clarify_otp", {"buttons": self.otp_buttons(state)})]
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
                return steps + self._after_success(state)
            if CLARIFY.search(t):
                return steps + [Step("utter", "utter_clarify_followup")]
            return None
        if kind == "leave_message":
            state["pending"] = None
            return steps + [Step("leave_message", pending.get("kind", "callback"), {"text": text})]
        if kind == "survey":
            m = SURVEY_SCORE.match(t)
            if m:
                state["pending"] = None
                return steps + [Step(StepKind.SURVEY, "survey", {"score": int(m.group(1))})]
            return None
        return None

    def _after_success(self, state: dict[str, Any]) -> list[Step]:
        """"解决了": offer to resume an unfinished flow, else ask what else."""
        resume = state.pop("resume", None)
        if resume and resume.get("intent") and resume["intent"] not in state.get("resolved", [])[-1:]:
            lang = state.get("language", "zh")
            state["pending"] = ResumePending(resume=resume).to_dict()
            yes, no = ("继续", "不用了") if lang == "zh" else ("Continue", "No thanks")
            return [Step("utter", "utter_resume_offer", {
                "title": self.title(resume["intent"], lang),
                "buttons": [{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}]})]
        return [Step("utter", "utter_glad")]

    def otp_buttons(self, state: dict[str, Any]) -> list[dict[str, str]]:
        """The code step's way out: "收不到验证码" and "转人工"."""
        if state.get("language", "zh") == "en":
            return [{"title": "I didn't get the code", "payload": "I didn't get the code"},
                    {"title": "Talk to a person", "payload": "/request_human"}]
        return [{"title": "收不到验证码", "payload": "收不到验证码"}, {"title": "转人工", "payload": "/request_human"}]

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

    def _solve(self, state: dict[str, Any], intent: str, text: str = "", rule: bool = False) -> list[Step]:
        """The solution step for a business intent: handoff, identity check + own data, or guide.

        ``rule``: the customer asks how the rule works in general, so nothing of theirs is looked up.
        """
        lang = state.get("language", "zh")
        state.setdefault("intent_history", []).append(intent)
        state["intent_history"] = state["intent_history"][-30:]
        rules = self.intents.get(intent, {})
        if rules.get("handoff"):
            return [Step("utter", "utter_info_no_guide", {"title": self.title(intent, lang)})] + \
                self._handoff(state, "policy")
        reveals = rules.get("reveals")
        if reveals and not rule and not HOWTO.search(to_simplified(text)):
            # the bot itself shows the customer's data: only then is a code needed
            if state.get("visitor"):
                # not signed in to the bank app: sign in first; meanwhile, where to see it in the app
                return [Step("utter", "utter_login_required", {"title": self.title(intent, lang)})] + \
                    self._guide(state, intent)
            if not state.get("customer_id"):
                return [Step("utter", "utter_no_customer")] + self._guide(state, intent)
            if self.needs_identity(intent) and not state.get("verified"):
                state["pending"] = OtpPending(intent=intent).to_dict()
                return [Step("send_otp", intent), Step("utter", "utter_ask_otp", {
                    "custom": {"type": "otp", "length": 6}, "buttons": self.otp_buttons(state)})]
            return [Step(StepKind.BANK, str(reveals))] + self._guide(state, intent)
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
            reveals = self.intents.get(intent, {}).get("reveals")
            bank = [Step(StepKind.BANK, str(reveals))] if reveals else []
            return [Step("utter", "utter_otp_ok")] + bank + self._guide(state, intent)
        pending = state.get("pending") or {"type": "otp", "intent": intent, "tries": 0}
        tries = pending.get("tries", 0) + 1
        if tries >= self.config.otp_tries:
            state["pending"] = None
            return self._handoff(state, "identity_check")
        state["pending"] = {**pending, "tries": tries}
        return [Step("utter", "utter_otp_retry", {"buttons": self.otp_buttons(state)})]

    def after_care_step(self, state: dict[str, Any], pending: dict[str, Any], finished: bool) -> list[Step]:
        """After a care-mode step: wait for "做好了", or ask the follow-up after the last one."""
        if not finished:
            state["pending"] = pending
            return []
        return self._followup(state, pending.get("intent"), pending.get("guide"))

    @staticmethod
    def _followup(state: dict[str, Any], intent: str | None, guide: str | None) -> list[Step]:
        """Ask "did this solve it?" after a solution, with yes / still-not-working buttons."""
        state["pending"] = FollowupPending(intent=intent, guide=guide).to_dict()
        zh = state.get("language", "zh") == "zh"
        yes, no = ("解决了", "还是不行") if zh else ("Yes, solved", "Still not working")
        return [Step("utter", "utter_followup", {"buttons": [{"title": yes, "payload": "/affirm"},
                                                              {"title": no, "payload": "/deny"}]})]

    @staticmethod
    def _fragile(state: dict[str, Any]) -> bool:
        """Care mode or distress seen: the path to a human gets shorter."""
        return bool(state.get("care_mode") or state.get("distressed"))

    def _handoff(self, state: dict[str, Any], reason: str, priority: str | None = None) -> list[Step]:
        state["pending"] = None
        state["misses"] = 0
        if HandoffStatus(state.get("handoff_status") or "bot").with_human_side:
            return [Step(StepKind.HANDOFF, reason, {"raise": True, "priority": priority or "normal"})]
        return [Step(StepKind.HANDOFF, reason, {"priority": priority} if priority else {})]

    def _survey(self, state: dict[str, Any]) -> list[Step]:
        if state.get("survey_done"):
            return []
        state["pending"] = SurveyPending().to_dict()
        return [Step("action", "action_survey", {})]
