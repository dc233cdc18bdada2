"""The websocket channel ``/webhooks/websocket?sender=…``: messages in, replies and pushes out.

Frames from the client: ``{"type": "message", "text": …, "message_id": …}`` (``message_id`` optional: a
resend with an id already stored is acknowledged with the original event id and not run again),
``{"type": "survey", "score": …}``,
``{"type": "typing"}`` (the customer is typing: relayed, throttled, to the agent holding the chat),
``{"type": "ping"}``. The server sends a ``session`` frame (with the conversation token) on connect, an
``ack`` with the event id once a message is stored, and every push through the :class:`SocketHub`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Blueprint, Request, Websocket

from ..dialogue.assistant import InputError, validate_message_id, validate_sender
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
#: the customer is typing (sender)
OnTyping = Callable[[str], Awaitable[Any]]
#: frames read from one socket and not yet processed (a flood beyond this gets an error frame)
MAX_QUEUED_FRAMES = 64

log = logging.getLogger(__name__)


class WebsocketInput(InputChannel):
    """The customer websocket (used by the widget)."""

    def __init__(self, auth: ConversationAuth, store: TrackerStore, hub: SocketHub, on_survey: OnSurvey,
                 on_typing: OnTyping | None = None) -> None:
        """Sockets are registered in ``hub``; survey frames go to ``on_survey``, typing frames to ``on_typing``."""
        self.auth, self.store, self.hub, self.on_survey = auth, store, hub, on_survey
        self.on_typing = on_typing
        #: per-socket workers still processing frames (some outlive their socket)
        self._workers: set[asyncio.Task[None]] = set()

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
            # The handler only reads; a worker task processes the frames in order. A customer who sends
            # a message or the survey and closes the app at once (Sanic cancels this handler, and drops
            # frames nobody has read yet once the socket is closed) still has it stored and answered.
            frames: asyncio.Queue[Any] = asyncio.Queue()
            worker = asyncio.ensure_future(self._work(frames, on_message, sender, ws, customer_id))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
            try:
                async for raw in ws:
                    if frames.qsize() >= MAX_QUEUED_FRAMES:
                        await _send(ws, {"type": "error", "message": "too many frames at once, please wait"})
                        continue
                    frames.put_nowait(raw)
            finally:
                frames.put_nowait(None)
                self.hub.discard(sender, ws)

        return bp

    async def _work(self, frames: asyncio.Queue[Any], on_message: OnMessage, sender: str, ws: Websocket,
                    customer_id: str | None) -> None:
        while (raw := await frames.get()) is not None:
            try:
                await self._frame(on_message, sender, ws, raw, customer_id)
            except Exception:  # one bad frame must not stop the frames behind it
                log.exception("websocket frame of %s failed", sender)

    async def _frame(self, on_message: OnMessage, sender: str, ws: Websocket, raw: Any,
                     customer_id: str | None = None) -> None:
        try:
            frame = parse_json_body(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw,
                                    MAX_FRAME_BYTES)
        except BadInput as exc:
            await _send(ws, {"type": "error", "message": f"frames must be JSON objects: {exc}"})
            return
        if not isinstance(frame, dict):
            await _send(ws, {"type": "error", "message": "frames must be JSON objects"})
            return
        kind = frame.get("type")
        try:
            if kind == "message":
                message_id = validate_message_id(frame.get("message_id"))

                async def ack(event_id: int) -> None:  # a retry of a stored message gets the original id
                    await _send(ws, {"type": "ack", "event_id": event_id,
                                     **({"message_id": message_id} if message_id else {})})

                turn = await on_message(UserMessage(sender, frame.get("text"), "websocket", frame.get("metadata"),
                                                    on_stored=ack, customer_id=customer_id, message_id=message_id))
                # a client resends only what it got no ack for, and the replies come after the ack on the same
                # socket: it has none of them (e.g. answered after a restart). This socket gets them now.
                for kind, m in zip(turn.kinds, turn.messages, strict=False) if turn.duplicate else ():
                    out = {"type": "agent" if kind == "agent" else "bot", "message": m}
                    if kind == "agent" and m.get("agent"):
                        out["agent"] = m["agent"]
                    await _send(ws, out)
            elif kind == "survey":
                await self.on_survey(sender, frame.get("score"), frame.get("reason"), frame.get("comment"))
            elif kind == "ping":
                await _send(ws, {"type": "pong"})
            elif kind == "typing":
                if self.on_typing is not None:
                    await self.on_typing(sender)
            else:
                await _send(ws, {"type": "error", "message": f"unknown frame type {kind!r}"})
        except (InputError, BadInput, ParseBusy) as exc:
            await _send(ws, {"type": "error", "message": str(exc)})
        except RateLimited as exc:
            await _send(ws, {"type": "error", "message": str(exc), "retry_after": exc.retry_after})


async def _send(ws: Websocket, frame: dict[str, Any]) -> None:
    """Send a frame; a socket the customer already closed is not an error (the work is kept anyway)."""
    try:
        await ws.send(dumps(frame))
    except Exception as exc:  # websockets' ConnectionClosed / Sanic's WebsocketClosed
        log.debug("frame not delivered, socket closed: %s", exc)
