"""The websocket channel ``/webhooks/websocket?sender=…``: messages in, replies and pushes out.

Frames from the client: ``{"type": "message", "text": …}``, ``{"type": "survey", "score": …}``,
``{"type": "ping"}``. The server sends a ``session`` frame (with the conversation token) on connect, an
``ack`` with the event id once a message is stored, and every push through the :class:`SocketHub`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Blueprint, Request, Websocket

from ..dialogue.assistant import InputError, validate_sender
from ..dialogue.store import TrackerStore
from ..inputs import BadInput, parse_json_body
from ..ratelimit import RateLimited
from .auth import AuthError, ConversationAuth
from .base import InputChannel, OnMessage, UserMessage, dumps
from .batching import ParseBusy
from .hub import SocketHub

#: largest accepted client frame (a maximum-length message with its metadata fits)
MAX_FRAME_BYTES = 64 * 1024
#: stores a survey answer: (sender, score, reason, comment)
OnSurvey = Callable[[str, Any, Any, Any], Awaitable[Any]]


class WebsocketInput(InputChannel):
    """The customer websocket (used by the widget)."""

    def __init__(self, auth: ConversationAuth, store: TrackerStore, hub: SocketHub, on_survey: OnSurvey) -> None:
        """Sockets are registered in ``hub``; survey frames go to ``on_survey``."""
        self.auth, self.store, self.hub, self.on_survey = auth, store, hub, on_survey

    @classmethod
    def name(cls) -> str:
        """``websocket``."""
        return "websocket"

    def blueprint(self, on_message: OnMessage) -> Blueprint:
        """``/webhooks/websocket``."""
        bp = Blueprint(self.name())

        @bp.websocket("/webhooks/websocket")
        async def websocket(request: Request, ws: Websocket) -> None:
            sender: str | None = request.args.get("sender") or None
            try:
                if sender is not None:
                    validate_sender(sender)
            except InputError as exc:
                await ws.send(dumps({"type": "error", "message": str(exc)}))
                await ws.close(code=4000, reason="bad sender")
                return
            try:
                # a new conversation gets a fresh random token; an existing one needs its token or the
                # bound customer's identity (no more pre-claiming: the token is not derived from the id)
                caller = self.auth.admit(sender, request.args.get("token"), request.args.get("identity"),
                                         sender is None or self.store.load(sender).is_new)
            except AuthError as exc:
                await ws.send(dumps({"type": "error", "message": str(exc)}))
                await ws.close(code=4401 if exc.status == 401 else 4403, reason="token required")
                return
            sender = caller.sender_id
            customer_id = caller.customer_id
            frame: dict[str, Any] = {"type": "session", "sender": sender, "customer": customer_id is not None}
            if caller.new_token:
                frame["token"] = caller.new_token
            await ws.send(dumps(frame))
            self.hub.add(sender, ws)
            try:
                async for raw in ws:
                    await self._frame(on_message, sender, ws, raw, customer_id)
            finally:
                self.hub.discard(sender, ws)

        return bp

    async def _frame(self, on_message: OnMessage, sender: str, ws: Websocket, raw: Any,
                     customer_id: str | None = None) -> None:
        try:
            frame = parse_json_body(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw,
                                    MAX_FRAME_BYTES)
        except BadInput as exc:
            await ws.send(dumps({"type": "error", "message": f"frames must be JSON objects: {exc}"}))
            return
        if not isinstance(frame, dict):
            await ws.send(dumps({"type": "error", "message": "frames must be JSON objects"}))
            return
        kind = frame.get("type")
        try:
            if kind == "message":
                async def ack(event_id: int) -> None:
                    await ws.send(dumps({"type": "ack", "event_id": event_id}))

                await on_message(UserMessage(sender, frame.get("text"), "websocket", frame.get("metadata"),
                                             on_stored=ack, customer_id=customer_id))
            elif kind == "survey":
                await self.on_survey(sender, frame.get("score"), frame.get("reason"), frame.get("comment"))
            elif kind == "ping":
                await ws.send(dumps({"type": "pong"}))
            else:
                await ws.send(dumps({"type": "error", "message": f"unknown frame type {kind!r}"}))
        except (InputError, BadInput, ParseBusy) as exc:
            await ws.send(dumps({"type": "error", "message": str(exc)}))
        except RateLimited as exc:
            await ws.send(dumps({"type": "error", "message": str(exc), "retry_after": exc.retry_after}))
