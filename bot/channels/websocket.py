"""The websocket channel ``/webhooks/websocket?sender=…``: messages in, replies and pushes out.

Credentials never travel in the URL (proxies log URLs): an existing conversation is re-opened with its token
or the customer's identity in the headers (``X-Conversation-Token`` or ``Authorization: Bearer``,
``X-Customer-Identity``) or in a first frame ``{"type": "auth", "token": …, "identity": …}`` sent within
``WS_AUTH_SECONDS``. A URL with ``token=`` or ``identity=`` is refused (close code 4400). A new conversation
needs nothing: its token comes in the ``session`` frame.

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
from .auth import CUSTOMER_PREFIX, AuthError, ConversationAuth
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
#: how long a socket that must prove who it is waits for its first ``auth`` frame
WS_AUTH_SECONDS = 10.0
#: close code for credentials in the URL
CLOSE_URL_CREDENTIALS = 4400

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
            if "token" in request.args or "identity" in request.args:
                await ws.send(dumps({"type": "error", "message": "send the conversation token or identity in a "
                                     "first {\"type\": \"auth\", \"token\": …} frame or the "
                                     "X-Conversation-Token / X-Customer-Identity header, never in the URL"}))
                await _close(ws, CLOSE_URL_CREDENTIALS, "credentials in the URL")
                return
            is_new = sender is None or self.store.load(sender).is_new
            token, identity = _header_credentials(request)
            first: Any = None  # a first frame that was not an ``auth`` frame: processed as a normal frame
            # an existing conversation (or one started with POST /conversations) or a signed-in customer's
            needs_proof = sender is not None and (not is_new or sender.startswith(CUSTOMER_PREFIX)
                                                  or self.auth.known(sender))
            if token is None and identity is None and needs_proof:
                token, identity, first = await _auth_frame(ws)
            try:
                # a new conversation gets a fresh random token; an existing one needs its token or the
                # bound customer's identity (no more pre-claiming: the token is not derived from the id)
                caller = self.auth.admit(sender, token, identity, is_new)
            except AuthError as exc:
                await _send(ws, {"type": "error", "message": str(exc)})
                await _close(ws, 4401 if exc.status == 401 else 4403, "token required")
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
            if first is not None:
                frames.put_nowait(first)
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
            elif kind == "auth":
                pass  # a client that sends its token on every connect, to a conversation that needed none
            else:
                await _send(ws, {"type": "error", "message": f"unknown frame type {kind!r}"})
        except (InputError, BadInput, ParseBusy) as exc:
            await _send(ws, {"type": "error", "message": str(exc)})
        except RateLimited as exc:
            await _send(ws, {"type": "error", "message": str(exc), "retry_after": exc.retry_after})


def _header_credentials(request: Request) -> tuple[str | None, str | None]:
    """Token (``X-Conversation-Token`` or ``Authorization: Bearer``) and identity (``X-Customer-Identity``)."""
    header = request.headers.get("authorization", "")
    token = request.headers.get("x-conversation-token") or (
        header[7:].strip() if header.lower().startswith("bearer ") else None)
    return token or None, request.headers.get("x-customer-identity") or None


async def _auth_frame(ws: Websocket) -> tuple[str | None, str | None, Any]:
    """Token and identity of a first ``{"type": "auth", …}`` frame within ``WS_AUTH_SECONDS``; any other first
    frame is handed back (third item) to be processed once the socket is admitted (it will not be)."""
    try:
        raw = await asyncio.wait_for(ws.recv(), WS_AUTH_SECONDS)
    except Exception:  # noqa: BLE001 - no frame in time, or the client went away: no credentials
        return None, None, None
    if raw is None:
        return None, None, None
    try:
        frame = parse_json_body(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw,
                                MAX_FRAME_BYTES)
    except BadInput:
        return None, None, raw
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        return None, None, raw
    token, identity = frame.get("token"), frame.get("identity")
    return (token[:200] if isinstance(token, str) and token else None,
            identity[:400] if isinstance(identity, str) and identity else None, None)


async def _close(ws: Websocket, code: int, reason: str) -> None:
    """Close with ``code``/``reason``; a socket the client already closed is fine."""
    try:
        await ws.close(code=code, reason=reason)
    except Exception as exc:  # websockets' ConnectionClosed / Sanic's WebsocketClosed
        log.debug("socket already closed: %s", exc)


async def _send(ws: Websocket, frame: dict[str, Any]) -> None:
    """Send a frame; a socket the customer already closed is not an error (the work is kept anyway)."""
    try:
        await ws.send(dumps(frame))
    except Exception as exc:  # websockets' ConnectionClosed / Sanic's WebsocketClosed
        log.debug("frame not delivered, socket closed: %s", exc)
