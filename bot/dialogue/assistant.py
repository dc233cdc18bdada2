"""The assistant runtime: one user turn in, the bot's messages out, everything persisted.

``Assistant.handle`` stores the user message, parses it (or reads a button payload), lets the
:class:`~bot.dialogue.policy.Policy` decide, runs rasa-sdk actions in-process through
``ActionExecutor``, renders domain responses, records handoffs with their context package, and
writes the turn to the tracker store before returning the reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from rasa_sdk.executor import ActionExecutor

from ..bank.backend import BankBackend, DemoBankBackend
from ..nlu.entities import mask_codes, mask_deep, mask_sensitive
from ..nlu.pipeline import ParseInputError
from .identity import OTPVerifier, StubOTPVerifier
from .policy import Policy, Step
from .responses import Responses
from .script import detect_script, localize
from .state import HandoffStatus, StepKind
from .store import Conversation, TrackerStore

log = logging.getLogger(__name__)
CUSTOMER_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
CARD_KIND = {"zh": {"debit": "借记卡", "credit": "信用卡"}, "en": {"debit": "debit card", "credit": "credit card"}}

SENDER_RE = re.compile(r"[A-Za-z0-9_.@:\-]{1,64}")
#: a client's id of its message (idempotent retries): a short token
MESSAGE_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
PAYLOAD_RE = re.compile(r"^/([A-Za-z_][A-Za-z0-9_]*)(\{.*)?$", re.DOTALL)
MAX_METADATA_BYTES = 8192


class InputError(ValueError):
    """The request can't be processed as sent; the message says why (-> HTTP 4xx)."""


class HandoffGateway(Protocol):
    """How the bot hands a conversation to the human side (the handoff service implements it).

    The handoff service owns the handoff status; it reports every change back through
    ``handoff.interface.BotLink.handoff_changed``.
    """

    def escalate(self, sender_id: str, context: dict[str, Any]) -> dict[str, Any]:
        """Queue the conversation; returns ``queue_position`` (people ahead), ``eta_seconds``, ``agents_online``."""

    def raise_priority(self, sender_id: str, priority: str, reason: str) -> dict[str, Any] | None:
        """Make an open chat more urgent (fraud reported while waiting); the new queue info, or ``None``."""

    def leave_message(self, sender_id: str, text: str) -> dict[str, Any]:
        """Ticket a message / callback request (takes a waiting chat out of the queue); returns ``ticket_id``."""

    async def on_customer_message(self, sender_id: str, event_id: int, text: str, parse: dict[str, Any]) -> None:
        """A customer message while the chat is queued or with an agent: into the agent's view."""

    def queue_status(self, sender_id: str) -> dict[str, Any] | None:
        """``queue_position`` (people ahead), ``eta_seconds``, ``agents_online`` of a waiting chat, else ``None``."""


class NoHumanGateway:
    """Used when no handoff service is plugged in: the escalation is recorded, nobody is queued."""

    def escalate(self, sender_id: str, context: dict[str, Any]) -> dict[str, Any]:
        """No queue: position and wait unknown."""
        return {"queue_position": None, "eta_seconds": None, "agents_online": None}

    def raise_priority(self, sender_id: str, priority: str, reason: str) -> dict[str, Any] | None:
        """Nothing queued."""
        return None

    def leave_message(self, sender_id: str, text: str) -> dict[str, Any]:
        """No ticket system: nothing recorded besides the conversation's own event."""
        return {"ticket_id": None}

    async def on_customer_message(self, sender_id: str, event_id: int, text: str, parse: dict[str, Any]) -> None:
        """Nobody to forward to."""

    def queue_status(self, sender_id: str) -> dict[str, Any] | None:
        """No queue."""
        return None


@dataclass
class Turn:
    """The result of one user turn."""

    messages: list[dict[str, Any]]
    user_event_id: int
    parse: dict[str, Any] = field(default_factory=dict)
    #: this message started the conversation
    new_conversation: bool = False
    #: a retry of a message already stored (same client message id): nothing new was stored or run
    duplicate: bool = False
    #: for a retry: the stored replies' kinds (``bot`` / ``agent``), one per message
    kinds: list[str] = field(default_factory=list)


def validate_sender(sender: Any) -> str:
    """A sender id is 1–64 characters of letters, digits and ``_ . @ : -``."""
    if not isinstance(sender, str) or not SENDER_RE.fullmatch(sender):
        raise InputError("'sender' must be 1-64 characters of letters, digits, '_', '-', '.', '@' or ':'")
    return sender


def validate_message_id(message_id: Any) -> str | None:
    """A client message id is ``None`` or 1–64 characters of letters, digits, ``_`` and ``-``."""
    if message_id is None:
        return None
    if not isinstance(message_id, str) or not MESSAGE_ID_RE.fullmatch(message_id):
        raise InputError("'message_id' must be 1-64 characters of letters, digits, '_' or '-'")
    return message_id


def payload_parse(text: str, known: set[str]) -> dict[str, Any] | None:
    """Rasa's ``/intent{"key": value}`` shortcut as a parse result (confidence 1, no NLU).

    Only known intents count as payloads; any other text starting with ``/`` goes through NLU.
    """
    m = PAYLOAD_RE.match(text.strip())
    if not m or m.group(1) not in known:
        return None
    entities: dict[str, Any] = {}
    if m.group(2):
        try:
            entities = json.loads(m.group(2))
        except json.JSONDecodeError as exc:
            raise InputError(f"button payload has invalid JSON: {exc}") from exc
        if not isinstance(entities, dict):
            raise InputError("button payload data must be a JSON object")
    entities = mask_deep(entities)  # button payloads may carry card/phone numbers too
    return {
        "text": mask_sensitive(text), "intent": {"name": m.group(1), "confidence": 1.0},
        "intent_ranking": [{"name": m.group(1), "confidence": 1.0}],
        "entities": [{"entity": k, "value": v} for k, v in entities.items()],
        "category": None, "categories": {}, "language": None, "care": {"elderly": 0.0, "distressed": 0.0},
        "multi_intent": [], "fallback": False, "from_button": True, "payload_data": entities,
    }



def stamp_event_ids(events: list[tuple[str, dict[str, Any]]], ids: list[int]) -> None:
    """Give each stored bot message its event id (``event_id``): the channels deliver it, and a client that
    missed a push (a reconnect, a restart) fetches what came after the last id it has, without duplicates."""
    for (kind, data), event_id in zip(events, ids, strict=False):
        if kind == "bot" and event_id:
            data["event_id"] = event_id

class Assistant:
    """Conversation runtime shared by every channel."""

    def __init__(self, parse: Callable[[str], Awaitable[dict[str, Any]]], store: TrackerStore,
                 policy: Policy, intents: set[str], responses: Responses | None = None,
                 otp: OTPVerifier | None = None, gateway: HandoffGateway | None = None,
                 bank: BankBackend | None = None) -> None:
        """Wire the NLU (an async ``parse(text)`` and its intent names), store, policy, responses, plug-ins.

        ``bank`` is the plug-in point for the bank's core systems (default: the seeded demo bank).
        """
        self.parse = parse
        self.payload_intents = set(intents) | {"survey", "leave_message", "request_callback", "freeze_card"}
        self.bank: BankBackend = bank or DemoBankBackend()
        self.store = store
        self.policy = policy
        self.responses = responses or Responses()
        self.otp = otp or StubOTPVerifier()
        self.gateway: HandoffGateway = gateway or NoHumanGateway()
        self.executor = ActionExecutor()
        self.executor.register_package("actions")
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: lock provider (sender id -> async context manager); replaced by a cross-instance lock with Redis
        self.locks: Callable[[str], AbstractAsyncContextManager[Any]] = self._locks.__getitem__
        #: called with (sender_id, messages, kind, agent) after every turn and push; channels subscribe
        self.listeners: list[Callable[[str, list[dict[str, Any]], str, str | None], Awaitable[None]]] = []
        #: called with (sender_id, frame) for raw frames such as queue updates
        self.frame_listeners: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []

    # ------------------------------------------------------------------ public
    async def handle(self, sender_id: str, text: Any, channel: str = "rest",
                     metadata: dict[str, Any] | None = None,
                     on_stored: Callable[[int], Awaitable[None]] | None = None,
                     customer_id: str | None = None, visitors_limited: bool = False,
                     message_id: str | None = None) -> Turn:
        """Process one user message; raises :class:`InputError` for unusable input.

        ``on_stored`` is awaited with the event id as soon as the user's message is persisted
        (channels use it to acknowledge the message before the reply comes). ``message_id`` is the
        client's id of the message: a retry with an id already stored for this sender stores nothing and
        runs no turn; it is acknowledged with the original event id and returns the replies stored after it.
        """
        validate_sender(sender_id)
        validate_message_id(message_id)
        if not isinstance(text, str):
            raise InputError("'message' must be a string")
        if metadata is not None and (not isinstance(metadata, dict)
                                     or len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_BYTES):
            raise InputError(f"'metadata' must be a JSON object of at most {MAX_METADATA_BYTES} bytes")
        async with self.lock(sender_id):
            if message_id is not None and (known := self.store.find_message(sender_id, message_id)) is not None:
                if on_stored is not None:
                    await on_stored(known)
                stored = self.store.replies_after(sender_id, known)
                replies = [{k: e[k] for k in ("text", "image", "buttons", "custom", "agent") if e.get(k)}
                           | {"recipient_id": sender_id, "event_id": e["id"]} for e in stored]
                return Turn(replies, known, {}, False, duplicate=True, kinds=[str(e["type"]) for e in stored])
            parse = payload_parse(text, self.payload_intents)
            if parse is None:
                try:
                    parse = await self.parse(text)
                except ParseInputError as exc:
                    raise InputError(str(exc)) from exc
            conv = self.store.load(sender_id, channel)
            new_conversation = conv.is_new
            state = conv.state
            if customer_id:
                state["customer_id"] = customer_id
            # a visitor (no identity from the bank app) gets only the parts that need no account
            state["visitor"] = bool(visitors_limited and not state.get("customer_id"))
            if parse.get("language") in ("zh", "en"):
                state["language"] = parse["language"]
            elif parse.get("language") == "mixed":
                state["language"] = "zh"
            state.setdefault("language", "zh")
            if not parse.get("from_button"):
                state["script"] = detect_script(text, state.get("script", "hans")) \
                    if state["language"] == "zh" else "hans"
            meta = metadata or {}
            if not visitors_limited and isinstance(meta.get("customer_id"), str) \
                    and CUSTOMER_ID_RE.match(meta["customer_id"]):
                # development only (no identity secret): the client may name its demo customer. With the
                # bank app's identity configured, only the verified identity token sets the customer.
                state["customer_id"] = meta["customer_id"]
                state["visitor"] = False
            if meta.get("region") in ("HK", "TW"):
                state["region"] = meta["region"]
            now = time.time()
            state["seconds_since_last"] = now - state.get("last_user_ts", now)
            state["last_user_ts"] = now
            stored_text = mask_sensitive(text)
            if (state.get("pending") or {}).get("type") == "otp":
                # the answer to a passcode prompt: the code is never stored or shown in clear
                stored_text = mask_codes(text)
                parse = {**parse, "text": stored_text}
            user_event = {"text": stored_text, "parse_data": parse, "channel": channel,
                          "metadata": mask_deep(metadata or {})}
            # the user's message is stored before anything else happens
            (user_id,) = self.store.save_turn(conv, [("user", user_event)], message_id=message_id)
            if on_stored is not None:
                await on_stored(user_id)
            messages = await self._answer(conv, user_id, parse, text, stored_text)
        for m in messages:
            m["recipient_id"] = sender_id
        await self.notify(sender_id, messages)
        return Turn(messages, user_id, parse, new_conversation)

    async def answer_stored(self, sender_id: str) -> int:
        """Run the turn of a stored customer message that has no reply yet (after a crash); the reply count.

        Nothing happens unless the conversation is with the bot and its newest message is the customer's.
        The reply is stored (the widget shows it when the customer reconnects) and pushed to open sockets.
        """
        async with self.lock(sender_id):
            conv = self.store.load(sender_id)
            if conv.is_new or HandoffStatus(conv.state.get("handoff_status") or "bot").with_human_side:
                return 0
            last = self.store.events(sender_id, types=["user", "bot", "agent"])[-1:]
            if not last or last[0]["type"] != "user":
                return 0
            event = last[0]
            parse = event.get("parse_data") or {}
            if not isinstance(parse.get("intent"), dict):
                return 0
            text = str(event.get("text") or "")
            messages = await self._answer(conv, int(event["id"]), parse, text, text)
        for m in messages:
            m["recipient_id"] = sender_id
        await self.notify(sender_id, messages)
        return len(messages)

    async def answer_unanswered(self, window_seconds: float) -> int:
        """After a restart: answer every conversation with the bot whose newest message, stored within the last
        ``window_seconds``, is the customer's and has no reply; returns how many were answered."""
        if window_seconds <= 0:
            return 0
        answered = 0
        for sender_id in self.store.unanswered(time.time() - window_seconds):
            try:
                if await self.answer_stored(sender_id):
                    answered += 1
            except Exception:  # noqa: BLE001 - one conversation must not keep the others unanswered
                log.exception("answering the stored message of %s after the restart failed", sender_id)
        return answered

    async def _answer(self, conv: Conversation, user_id: int, parse: dict[str, Any], text: str,
                      stored_text: str) -> list[dict[str, Any]]:
        """Decide and run the turn of the stored user message ``user_id``; stores and returns the replies."""
        sender_id, state = conv.sender_id, conv.state
        status = HandoffStatus(state.get("handoff_status") or "bot")
        try:
            if status.with_human_side:
                # a person is coming or here: every message goes to the agent's view
                await self.gateway.on_customer_message(sender_id, user_id, stored_text, parse)
                messages, events = await self._while_human(conv, status, parse, text)
            elif parse["intent"]["name"] == "survey" and parse.get("from_button"):
                data = parse.get("payload_data", {})
                messages, events = self._survey(conv, data.get("score"), data.get("reason"), data.get("comment"))
            else:
                steps = self.policy.decide(state, parse, text)
                messages, events = await self._run_steps(conv, steps, parse)
                if state.get("last_care_signals"):
                    events.insert(0, ("care", {"signals": state["last_care_signals"],
                                               "care_mode": bool(state.get("care_mode")),
                                               "scores": parse.get("care", {})}))
        except InputError:
            raise
        except Exception:  # noqa: BLE001 - internal error repair: the customer is never left without an answer
            log.exception("turn failed for %s", sender_id)
            state["pending"] = None
            msg = self._render("utter_internal_error", state, {"buttons": [self._human_button(state)]})
            messages, events = [msg], [("error", {"where": "turn"}), ("bot", msg)]
        messages, events = self.finish_messages(state, messages, events)
        stamp_event_ids(events, self.store.save_turn(conv, events))
        return messages

    async def survey(self, sender_id: str, score: Any, reason: Any = None, comment: Any = None) -> list[dict[str, Any]]:
        """Store a survey answer (score 1–5; reason/comment optional) and thank the customer."""
        validate_sender(sender_id)
        async with self.lock(sender_id):
            conv = self.store.load(sender_id)
            if conv.is_new:
                raise InputError(f"no conversation with sender {sender_id!r}")
            messages, events = self._survey(conv, score, reason, comment)
            stamp_event_ids(events, self.store.save_turn(conv, events))
        for m in messages:
            m["recipient_id"] = sender_id
        await self.notify(sender_id, messages)
        return messages

    def transcript(self, sender_id: str) -> list[dict[str, Any]]:
        """All stored events of a conversation."""
        return self.store.events(sender_id)

    def lock(self, sender_id: str) -> AbstractAsyncContextManager[Any]:
        """The lock that serialises work on one conversation (across instances when Redis is configured)."""
        return self.locks(sender_id)

    async def notify(self, sender_id: str, messages: list[dict[str, Any]], kind: str = "bot",
                     agent: str | None = None) -> None:
        """Deliver messages to the customer's open channels (websocket listeners)."""
        for listener in list(self.listeners):
            await listener(sender_id, messages, kind, agent)

    async def notify_frame(self, sender_id: str, frame: dict[str, Any]) -> None:
        """Deliver a raw frame (e.g. queue position) to the customer's open channels."""
        for listener in list(self.frame_listeners):
            await listener(sender_id, frame)

    async def run_steps(self, conv: Conversation, steps: list[Step], parse: dict[str, Any]) -> tuple[list, list]:
        """Execute policy steps for a conversation (used by the handoff link too)."""
        return await self._run_steps(conv, steps, parse)

    # ------------------------------------------------------------------ internals
    def finish_messages(self, state: dict[str, Any], messages: list[dict[str, Any]],
                        events: list[tuple[str, dict[str, Any]]]) -> tuple[list, list]:
        """Never the same text twice in a row; customer's script; remember the last text."""
        out: list[dict[str, Any]] = []
        last = state.get("last_bot_text")
        for m in messages:
            text = m.get("text")
            if text and text == last and not m.get("custom") and not m.get("buttons"):
                continue  # the same sentence again adds nothing
            if text and text == last:
                m = {k: v for k, v in m.items() if k != "text"}
            out.append(m)
            if m.get("text"):
                last = m["text"]
        if messages and not out:
            # the whole reply was a repeat: say something short and new instead of nothing at all
            m = self._render("utter_still_here", state, {"buttons": [self._human_button(state)]})
            out.append(m)
            last = m.get("text") or last
        out = [localize(m, state.get("script", "hans"), state.get("region")) for m in out]
        state["last_bot_text"] = last
        kept = {id(m) for m in messages}
        events = [e for e in events if e[0] != "bot" or id(e[1]) not in kept]
        events += [("bot", m) for m in out]
        return out, events

    def _human_button(self, state: dict[str, Any]) -> dict[str, str]:
        return {"title": "转人工" if state.get("language", "zh") == "zh" else "Talk to a person",
                "payload": "/request_human"}

    async def _while_human(self, conv: Conversation, status: HandoffStatus, parse: dict[str, Any],
                           text: str) -> tuple[list, list]:
        """Queued or with an agent: only honest queue updates, emergencies and the customer's own buttons."""
        state = conv.state
        intent = parse["intent"]["name"]
        pending = state.get("pending") or {}
        if parse.get("from_button") and intent == "freeze_card":
            return await self._run_steps(conv, [Step(StepKind.BANK, "freeze")], parse)
        kind = self.policy.emergency(parse, text)
        if kind is not None and not state.get("emergency"):
            return await self._run_steps(conv, self.policy.emergency_steps(state, kind), parse)
        if kind is not None:
            info = self.gateway.raise_priority(conv.sender_id, "urgent", kind)
            events: list[tuple[str, dict[str, Any]]] = [("handoff_priority", {"priority": "urgent", "reason": kind})]
            if status is HandoffStatus.ASSIGNED:
                return [], events
            return self._queue_update(state, info), events
        if status is HandoffStatus.QUEUED:
            if intent in ("leave_message", "request_callback") and parse.get("from_button"):
                return await self._run_steps(conv, self.policy.decide(state, parse, text), parse)
            if pending.get("type") == "leave_message":
                state["pending"] = None
                return await self._run_steps(conv, [Step(StepKind.LEAVE_MESSAGE, pending.get("kind", "callback"),
                                                         {"text": text})], parse)
            return self._queue_update(state, self.gateway.queue_status(conv.sender_id)), []
        return [], []

    def _queue_update(self, state: dict[str, Any], info: dict[str, Any] | None) -> list[dict[str, Any]]:
        """One honest queue update (nothing when it would repeat the last one)."""
        if info is None:
            return []
        ahead = info.get("queue_position")
        lang = state.get("language", "zh")
        buttons = []
        if info.get("agents_online") == 0:
            name = "utter_queue_no_agents"
            buttons = [{"title": "留言" if lang == "zh" else "Leave a message", "payload": "/leave_message"},
                       {"title": "预约回电" if lang == "zh" else "Request a callback", "payload": "/request_callback"}]
        elif ahead == 0:
            name = "utter_queue_update_next"
        else:
            name = "utter_queue_update"
        msg = self._render(name, state, {"ahead": ahead, "buttons": buttons})
        if msg.get("text") == state.get("last_bot_text"):
            return []
        msg["custom"] = {"type": "handoff", "status": "no_agents" if info.get("agents_online") == 0 else "queued",
                         "queue_position": ahead, "eta_seconds": info.get("eta_seconds"),
                         "agents_online": info.get("agents_online"), "agent": None, "to_skill": None,
                         "priority": state.get("handoff", {}).get("priority")}
        return [msg]

    def _bank(self, conv: Conversation, what: str) -> list[dict[str, Any]]:
        """Answer from the bank backend with the customer's own masked data, or act (freeze)."""
        state = conv.state
        lang = state.get("language", "zh")
        cid = state.get("customer_id")
        kinds = CARD_KIND["en" if lang == "en" else "zh"]
        customer = self.bank.customer(cid) if cid else None
        if what == "freeze":
            card = self.bank.freeze_card(cid) if customer is not None and cid else None
            if card is None:
                return [self._render("utter_freeze_link", state, {"buttons": [
                    {"title": "冻结卡片" if lang == "zh" else "Freeze card", "payload": "bankapp://cards/freeze"},
                    {"title": "拨打 95555" if lang == "zh" else "Call 95555", "payload": "tel:95555"}]})]
            state["card_frozen"] = card.last4
            msg = self._render("utter_card_frozen", state, {"last4": card.last4, "card_kind": kinds[card.kind]})
            msg["custom"] = {"type": "card_frozen", "last4": card.last4}
            return [msg]
        if customer is None or cid is None:
            return [self._render("utter_no_customer", state, {})]
        cards = self.bank.cards(cid)
        if what == "balance":
            debit = [c for c in cards if c.kind == "debit"] or cards
            return [self._render("utter_balance", state, {"last4": c.last4, "card_kind": kinds[c.kind],
                                                          "amount": f"{c.available:,.2f}"}) for c in debit[:2]]
        if what == "transactions":
            tx = self.bank.transactions(cid, 3)
            items = "；".join(f"{t.merchant} {t.amount:+,.2f}" for t in tx) if lang == "zh" else \
                "; ".join(f"{t.merchant} {t.amount:+,.2f}" for t in tx)
            return [self._render("utter_transactions", state, {"last4": tx[0].card_last4 if tx else "----",
                                                               "items": items})]
        if what == "bill":
            return [self._render("utter_bill", state, {"amount": f"{customer.bill_due:,.2f}",
                                                       "due": customer.bill_due_date})]
        if what == "points":
            return [self._render("utter_points", state, {"points": f"{customer.points:,}"})]
        if what == "card_delivery":
            credit = [c for c in cards if c.delivery] or cards
            return [self._render("utter_card_delivery", state, {"last4": credit[0].last4,
                                                                "delivery": credit[0].delivery or "-"})]
        if what == "transfer_status":
            return [self._render("utter_transfer_status", state, {"status": customer.last_transfer})]
        return []


    def _survey(self, conv: Conversation, score: Any, reason: Any, comment: Any) -> tuple[list, list]:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError("survey 'score' must be an integer from 1 to 5")
        for name, value in (("reason", reason), ("comment", comment)):
            if value is not None and (not isinstance(value, (str, list)) or len(json.dumps(value)) > 2000):
                raise InputError(f"survey '{name}' must be a short text or list of texts")
        state = conv.state
        state["survey_done"] = True
        state["pending"] = None
        state["last_bot_text"] = None
        data = {"score": score, "reason": mask_deep(reason), "comment": mask_deep(comment),
                "served_by": "agent" if state.get("had_agent") else "bot"}
        msg = self.responses.render("utter_survey_thanks", self._slots(state)) or {"text": "Thanks"}
        return [msg], [("survey", data), ("bot", msg)]

    def _slots(self, state: dict[str, Any]) -> dict[str, Any]:
        slots = dict(state.get("slots", {}))
        slots["language"] = state.get("language", "zh")
        slots["care_mode"] = bool(state.get("care_mode"))
        slots["stepwise"] = bool(state.get("stepwise"))
        slots["fast_mode"] = bool(state.get("fast_mode"))
        return slots

    def _render(self, name: str, state: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        extra = {k: v for k, v in args.items() if k not in ("buttons", "custom", "image", "after", "pending",
                                                            "raise", "priority")}
        msg = self.responses.render(name, self._slots(state), avoid=state.get("last_bot_text"), **extra) \
            or {"text": name}
        for key in ("buttons", "custom", "image"):
            if args.get(key):
                msg[key] = args[key]
        return msg

    async def _run_action(self, conv: Conversation, name: str, parse: dict[str, Any]) -> tuple[list, list]:
        state = conv.state
        call = {
            "next_action": name, "sender_id": conv.sender_id, "version": "3.21",
            "tracker": {"sender_id": conv.sender_id, "slots": self._slots(state), "latest_message": parse,
                        "events": [], "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": None},
            "domain": self.responses.domain,
        }
        result = await self.executor.run(call)
        messages: list[dict[str, Any]] = []
        events: list[tuple[str, dict[str, Any]]] = [("action", {"name": name})]
        for ev in (result.events if result else []):
            if ev.get("event") == "slot":
                state.setdefault("slots", {})[ev["name"]] = ev["value"]
                events.append(("slot", {"name": ev["name"], "value": ev["value"]}))
        for r in (result.responses if result else []):
            template = r.get("response") or r.get("template")
            kwargs = {k: v for k, v in r.items() if k not in {"text", "image", "buttons", "custom", "elements",
                                                             "attachment", "response", "template", "quick_replies"}
                      and v is not None}
            msg = self._render(template, state, kwargs) if template else {}
            if r.get("text"):
                msg["text"] = r["text"]
            for key in ("image", "buttons", "custom"):
                if r.get(key):
                    msg[key] = r[key]
            if msg:
                messages.append(msg)
        return messages, events

    def _context(self, conv: Conversation, reason: str) -> dict[str, Any]:
        """The context package an agent sees: nothing the customer said has to be repeated."""
        state = conv.state
        history = self.store.events(conv.sender_id, types=["user", "bot"])
        transcript = [{"from": "customer" if e["type"] == "user" else "bot",
                       "text": e.get("text") or (e.get("custom") or {}).get("title") or "", "ts": e["ts"]}
                      for e in history][-50:]
        intents = [{"intent": e["parse_data"]["intent"]["name"], "confidence": e["parse_data"]["intent"]["confidence"],
                    "category": e["parse_data"].get("category")} for e in history if e["type"] == "user"]
        entities = [ent for e in history if e["type"] == "user" for ent in e["parse_data"].get("entities", [])]
        care = {"care_mode": bool(state.get("care_mode")), "signals": state.get("care_reasons", []),
                "distress_trend": state.get("distress_trend", [])}
        elderly = "elderly_message" in care["signals"]
        distressed = bool(state.get("distressed")) or reason in ("distress", "complaint")
        priority = "high" if (elderly or distressed) else "normal"
        if reason in ("fraud", "lost_card"):
            priority = "urgent"
        return {
            "customer_id": conv.sender_id, "channel": conv.channel, "reason": reason,
            "priority": priority, "fraud": reason == "fraud" or bool(state.get("emergency")),
            "emergency": state.get("emergency"),
            "language": state.get("language", "zh"), "transcript": transcript, "intents": intents,
            "entities": entities, "care": care, "guides_shown": state.get("guides_shown", []),
            "identity_verified": bool(state.get("verified")), "failures": state.get("failures", 0),
            "created_at": time.time(),
        }

    async def _run_steps(self, conv: Conversation, steps: list[Step], parse: dict[str, Any]) -> tuple[list, list]:
        state = conv.state
        messages: list[dict[str, Any]] = []
        events: list[tuple[str, dict[str, Any]]] = []
        queue = list(steps)
        while queue:
            step = queue.pop(0)
            if step.kind == "utter":
                messages.append(self._render(step.name, state, step.args))
            elif step.kind == "slot":
                state.setdefault("slots", {})[step.name] = step.args.get("value")
                events.append(("slot", {"name": step.name, "value": step.args.get("value")}))
            elif step.kind == "action":
                msgs, evs = await self._run_action(conv, step.name, parse)
                messages += msgs
                events += evs
                if step.args.get("after") == "care_steps":
                    finished = state.get("slots", {}).get("guide_step") is None
                    queue = self.policy.after_care_step(state, step.args["pending"], finished) + queue
            elif step.kind == "send_otp":
                self.otp.send(conv.sender_id)
                events.append(("identity", {"status": "otp_sent", "intent": step.name}))
            elif step.kind == "verify_otp":
                ok = self.otp.verify(conv.sender_id, step.args["code"])
                events.append(("identity", {"status": "verified" if ok else "failed", "intent": step.name}))
                queue = self.policy.after_otp(state, step.name, ok) + queue
            elif step.kind == StepKind.BANK:
                messages += self._bank(conv, step.name)
                events.append(("bank", {"query": step.name}))
            elif step.kind == StepKind.SURVEY:
                msgs, evs = self._survey(conv, step.args.get("score"), None, None)
                messages += msgs
                events += [e for e in evs if e[0] != "bot"]
            elif step.kind == StepKind.LEAVE_MESSAGE:
                text = mask_sensitive(step.args.get("text", ""))
                info = self.gateway.leave_message(conv.sender_id, text)
                state["handoff_status"] = HandoffStatus.BOT.value
                state.setdefault("slots", {})["handoff_status"] = None
                events.append(("ticket", {"kind": step.name, "text": text, **info}))
                messages.append(self._render("utter_message_left", state, {"ticket_id": f"T{info.get('ticket_id')}"}))
            elif step.kind == StepKind.HANDOFF and step.args.get("raise"):
                raised = self.gateway.raise_priority(conv.sender_id, step.args.get("priority", "urgent"), step.name)
                events.append(("handoff_priority", {"priority": step.args.get("priority"), "reason": step.name}))
                if state.get("handoff_status") == HandoffStatus.QUEUED.value:
                    messages += self._queue_update(state, raised)
            elif step.kind == StepKind.HANDOFF:
                context = self._context(conv, step.name)
                info = self.gateway.escalate(conv.sender_id, context)
                slots = state.setdefault("slots", {})
                slots.update({"handoff_reason": step.name, "queue_position": info.get("queue_position"),
                              "queue_eta_seconds": info.get("eta_seconds"), "agents_online": info.get("agents_online"),
                              "handoff_priority": context["priority"]})
                state["handoff_status"] = HandoffStatus.QUEUED.value
                state["handoff"] = {"reason": step.name, "priority": context["priority"], "at": time.time()}
                events.append(("handoff", {"reason": step.name, "context": context, **info}))
                msgs, evs = await self._run_action(conv, "action_handoff", parse)
                messages += msgs
                events += evs
        events += [("bot", m) for m in messages]
        return messages, events
