"""Rasa's REST channel: ``POST /webhooks/rest/webhook``, plus polling for pushed messages.

The webhook answers with the bot's reply to that message. An optional ``message_id`` (1-64 letters, digits,
``_``, ``-``) makes retries idempotent: a message whose id is already stored for the sender is not stored or
answered again; the answer is the replies stored after it, with the header ``X-Duplicate-Message: 1``.
Every answer names the stored message's event id in ``X-Event-Id``. A REST client reads agent replies and other
pushed messages by polling ``GET /conversations/<sender>/messages?after=<event id>`` with the conversation
token it got in the ``X-Conversation-Token`` header of its first reply (docs/channels.md).
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from ..dialogue.assistant import InputError, validate_message_id, validate_sender
from ..dialogue.store import TrackerStore
from ..inputs import BadInput, parse_id
from .auth import CUSTOMER_PREFIX, AuthError, Caller, ConversationAuth
from .base import InputChannel, OnMessage, UserMessage, dumps, error, read_json


class RestInput(InputChannel):
    """The REST webhook and the polling endpoint."""

    def __init__(self, auth: ConversationAuth, store: TrackerStore, max_body: int) -> None:
        """``store`` serves the polled messages; bodies over ``max_body`` bytes get a 413."""
        self.auth, self.store, self.max_body = auth, store, max_body

    @classmethod
    def name(cls) -> str:
        """``rest``."""
        return "rest"

    def blueprint(self, on_message: OnMessage) -> Blueprint:
        """``POST /webhooks/rest/webhook`` and ``GET /conversations/<sender>/messages``."""
        bp = Blueprint(self.name())
        auth, store = self.auth, self.store

        @bp.post("/webhooks/rest/webhook")
        async def rest_webhook(request: Request) -> HTTPResponse:
            payload, err = read_json(request, self.max_body)
            if err:
                return err
            if not isinstance(payload, dict):
                return error(400, "expected a JSON object like {\"sender\": \"u1\", \"message\": \"查余额\"}")
            missing = [k for k in ("sender", "message") if k not in payload]
            if missing:
                return error(400, f"missing field(s): {', '.join(missing)}")
            sender = payload["sender"]
            try:
                validate_sender(sender)
                message_id = validate_message_id(payload.get("message_id"))
                caller = auth.admit(sender, request.headers.get("x-conversation-token") or payload.get("token"),
                                    request.headers.get("x-customer-identity") or payload.get("identity"),
                                    store.load(sender).is_new, issue=False)
                turn = await on_message(UserMessage(sender, payload["message"], "rest", payload.get("metadata"),
                                                    customer_id=caller.customer_id, message_id=message_id))
                if caller.fresh:  # the first message was accepted: now the conversation has its token
                    caller.new_token = auth.issue(sender, caller.customer_id)
            except InputError as exc:
                return error(400, str(exc))
            except AuthError as exc:
                return error(exc.status, str(exc), "Unauthorized" if exc.status == 401 else "Forbidden")
            headers = {"X-Conversation-Token": caller.new_token} if caller.new_token else {}
            headers["X-Event-Id"] = str(turn.user_event_id)
            if turn.duplicate:  # a retry of a stored message: the replies stored after it, nothing run again
                headers["X-Duplicate-Message"] = "1"
            return json_response(turn.messages, dumps=dumps, headers=headers)

        @bp.post("/conversations")
        async def start_conversation(request: Request) -> HTTPResponse:
            """A server-issued conversation: ``cust-<id>`` with a valid identity, else a random visitor id."""
            payload, err = read_json(request, 4096) if (request.body or b"").strip() else ({}, None)
            if err:
                return err
            if not isinstance(payload, dict):
                return error(400, "expected a JSON object like {\"identity\": \"...\"} (or no body)")
            identity = request.headers.get("x-customer-identity") or payload.get("identity")
            try:
                if not identity:
                    caller = auth.admit(None, None, None, True)  # a visitor: random id
                else:
                    customer = auth.verify_identity(identity)
                    sender = CUSTOMER_PREFIX + customer
                    if auth.known(sender):  # the customer's conversation exists: a fresh token for this device
                        caller = Caller(sender, customer, auth.rotate(sender))
                    else:
                        caller = auth.admit(sender, None, identity, True)
            except AuthError as exc:
                return error(exc.status, str(exc), "Unauthorized" if exc.status == 401 else "Forbidden")
            return json_response({"sender_id": caller.sender_id, "token": caller.new_token,
                                  "customer": caller.customer_id is not None}, status=201)

        @bp.post("/conversations/<sender>/token")
        async def rotate_token(request: Request, sender: str) -> HTTPResponse:
            """Rotate the conversation token (current token or the bound customer's identity required)."""
            try:
                validate_sender(sender)
            except InputError as exc:
                return error(400, str(exc))
            if not auth.known(sender) or not auth.may_read(request, sender):
                return error(401, "missing or invalid conversation token", "Unauthorized")
            return json_response({"sender_id": sender, "token": auth.rotate(sender)})

        @bp.get("/conversations/<sender>/messages")
        async def poll_messages(request: Request, sender: str) -> HTTPResponse:
            """REST clients poll for agent replies and pushed bot messages (customer token required)."""
            try:
                validate_sender(sender)
            except InputError as exc:
                return error(400, str(exc))
            if not auth.may_read(request, sender):
                return error(401, "missing or invalid conversation token", "Unauthorized")
            try:
                after = parse_id(request.args.get("after", "0"), "after")
            except BadInput:
                return error(400, "'after' must be an event id (integer from 0 to 2^63-1)")
            out = []
            # ?history=1 adds the customer's own messages (the widget re-draws the conversation after a reload)
            types = ["user", "bot", "agent"] if request.args.get("history") == "1" else ["bot", "agent"]
            for e in store.events(sender, types=types, after_id=after):
                msg = {k: e[k] for k in ("text", "image", "buttons", "custom") if e.get(k)}
                out.append({"recipient_id": sender, "event_id": e["id"], "from": e["type"], **msg,
                            **({"agent": e["agent"]} if e.get("agent") else {}),
                            **({"message_id": e["message_id"]} if e.get("message_id") else {})})
            return json_response(out, dumps=dumps)

        return bp
