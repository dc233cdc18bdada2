"""Tokens of the bot's HTTP surface: the API token and the per-conversation customer token."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sanic import Request

from ..config import Settings


def api_token(settings: Settings) -> str:
    """The token for the conversation/handoff APIs: ``BANKBOT_API_TOKEN``, else one kept in the data dir."""
    token = str(settings.extra.get("api_token") or "")
    token = os.environ.get("BANKBOT_API_TOKEN", token)
    if token:
        return token
    path = Path(settings.data_dir) / "api_token"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def bearer(request: Request) -> str:
    """The token of a request: ``Authorization: Bearer …``, else ``?token=``."""
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else request.args.get("token", "")


class ConversationAuth:
    """Checks the API token and the customer's conversation token."""

    def __init__(self, token: str) -> None:
        """``token`` is the API token (also the key of the conversation tokens)."""
        self.token = token

    def conversation_token(self, sender_id: str) -> str:
        """Secret that lets a customer read their own conversation (HMAC of the sender id)."""
        return hmac.new(self.token.encode(), sender_id.encode(), hashlib.sha256).hexdigest()[:32]

    def authorized(self, request: Request) -> bool:
        """The request carries the API token."""
        given = bearer(request)
        return bool(given) and secrets.compare_digest(given, self.token)

    def may_read(self, request: Request, sender_id: str) -> bool:
        """The request carries this conversation's token (``?token=`` or ``X-Conversation-Token``) or the API token."""
        given = request.args.get("token") or request.headers.get("x-conversation-token", "")
        return secrets.compare_digest(given, self.conversation_token(sender_id)) or self.authorized(request)
