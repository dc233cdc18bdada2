"""What every input channel shares: the message it hands on, the channel interface, JSON helpers.

Modelled on Rasa's ``InputChannel``: a channel is a class with a ``name()`` and a ``blueprint(on_message)``
that turns what arrives on its transport into :class:`UserMessage` objects and awaits ``on_message`` with
each. The app (``bot/server.py``) wires every channel to the same ``on_message`` (the assistant).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from .. import __version__
from ..dialogue.assistant import Turn
from ..inputs import BadInput, parse_json_body


@dataclass
class UserMessage:
    """One customer message as a channel received it (Rasa's ``UserMessage``)."""

    sender_id: str
    #: the text as sent (validated by the assistant: non-strings get a clear error)
    text: Any
    #: channel name stored with the event: ``rest`` or ``websocket``
    input_channel: str
    metadata: dict[str, Any] | None = None
    #: awaited with the event id once the message is stored (the websocket acknowledges with it)
    on_stored: Callable[[int], Awaitable[None]] | None = None
    #: the customer the bank app vouched for (verified identity token); None for a visitor
    customer_id: str | None = None
    #: the client's id of this message: a retry with the same id is acknowledged, not stored or run again
    message_id: Any = None


#: what a channel hands every customer message to; returns the turn (the bot's reply)
OnMessage = Callable[[UserMessage], Awaitable[Turn]]


class InputChannel(ABC):
    """A customer-facing transport; exposes its routes as one Sanic blueprint."""

    @classmethod
    @abstractmethod
    def name(cls) -> str:
        """Short channel name (also the blueprint's name)."""

    @abstractmethod
    def blueprint(self, on_message: OnMessage) -> Blueprint:
        """The channel's routes; every customer message goes to ``on_message``."""


def dumps(obj: Any) -> str:
    """JSON with Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False)


def error(status: int, message: str, reason: str = "BadRequest") -> HTTPResponse:
    """A Rasa-style error body with a clear message (the one error shape, see :mod:`bot.hardening`)."""
    return json_response({"version": __version__, "status": "failure", "message": message, "reason": reason,
                          "code": status}, status=status)


def read_json(request: Request, max_bytes: int) -> tuple[Any, HTTPResponse | None]:
    """Parse the request body as JSON, or return the 4xx response to send."""
    try:
        return parse_json_body(request.body, max_bytes), None
    except BadInput as exc:
        return None, error(exc.status, str(exc), "PayloadTooLarge" if exc.status == 413 else "BadRequest")
