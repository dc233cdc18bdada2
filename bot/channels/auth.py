"""Who may write to and read a conversation: API token, conversation tokens, verified customer identity.

* **API token** (``BANKBOT_API_TOKEN`` or ``var/api_token``): the bank's back office (events, handoffs).
* **Conversation token**: random (``secrets.token_urlsafe``), handed out once when a conversation starts
  (``X-Conversation-Token`` header / websocket ``session`` frame), stored only as a SHA-256 hash, rotatable.
  Every later message and every read of the conversation needs it (or the identity below).
* **Customer identity**: the bank app vouches for its logged-in customer with
  ``<customer_id>.<expires_unix>.<hex HMAC-SHA256(BANKBOT_IDENTITY_SECRET, "<customer_id>.<expires_unix>")>``
  (Chatwoot-style identity validation). A conversation started with it is bound to that customer; the same
  customer may continue it with a fresh identity token. Customers' conversations live under the reserved
  sender ids ``cust-<customer_id>``, which only a valid identity can open.
* **Visitors** (no identity) get a server-issued random sender id ``v-…`` when they send none; when an
  identity secret is configured they get only the parts of the bot that need no account.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sanic import Request
from sqlalchemy import Column, Float, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from ..config import Settings

metadata = MetaData()
conversation_tokens = Table(
    "conversation_tokens", metadata,
    Column("sender_id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("customer_id", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
)
CUSTOMER_PREFIX = "cust-"
VISITOR_PREFIX = "v-"
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.@:\-]{1,58}")
#: identity tokens may be valid for at most this long (the app mints short-lived ones)
MAX_IDENTITY_TTL = 24 * 3600


class AuthError(Exception):
    """Refused: ``status`` 401 (missing/invalid credentials) or 403."""

    def __init__(self, message: str, status: int = 401) -> None:
        """``status`` is the HTTP status to answer with."""
        super().__init__(message)
        self.status = status


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


def sign_identity(secret: str, customer_id: str, expires_at: int) -> str:
    """The identity token the bank app sends for ``customer_id`` (what the app's backend computes)."""
    mac = hmac.new(secret.encode(), f"{customer_id}.{expires_at}".encode(), hashlib.sha256).hexdigest()
    return f"{customer_id}.{expires_at}.{mac}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two texts (``compare_digest`` refuses non-ASCII ``str``: compare bytes)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


@dataclass
class Caller:
    """What a request proved: the conversation it may use and the verified customer (None: a visitor)."""

    sender_id: str
    customer_id: str | None
    #: a new conversation token, when this request started the conversation or rotated the token
    new_token: str | None = None
    #: a new conversation whose token is issued only once its first message was accepted
    fresh: bool = False


class ConversationAuth:
    """Checks the API token, conversation tokens and identity tokens; issues and rotates tokens."""

    def __init__(self, token: str, engine: Engine | None = None, identity_secret: str = "") -> None:
        """``token`` is the API token; conversation tokens live in ``engine``'s database."""
        self.token = token
        self.identity_secret = identity_secret
        self.engine = engine
        if engine is not None:
            metadata.create_all(engine)

    # ------------------------------------------------------------------ identity
    @property
    def identity_required(self) -> bool:
        """With an identity secret configured, visitors get only the non-account parts of the bot."""
        return bool(self.identity_secret)

    def verify_identity(self, token: object, now: float | None = None) -> str:
        """The customer id of a valid, unexpired identity token, else :class:`AuthError`."""
        if not self.identity_secret:
            raise AuthError("customer identity is not configured on this server (BANKBOT_IDENTITY_SECRET)", 400)
        if not isinstance(token, str) or len(token) > 200 or token.count(".") < 2:
            raise AuthError("identity must be '<customer_id>.<expires_unix>.<hmac>'")
        customer_id, expires, mac = token.rsplit(".", 2)
        if not _CUSTOMER_ID.fullmatch(customer_id) or not (expires.isascii() and expires.isdigit()) \
                or len(expires) > 12:
            raise AuthError("identity must be '<customer_id>.<expires_unix>.<hmac>'")
        expected = sign_identity(self.identity_secret, customer_id, int(expires)).rsplit(".", 1)[1]
        if not _same(expected, mac.lower()):
            raise AuthError("identity signature is invalid")
        now = time.time() if now is None else now
        if int(expires) < now:
            raise AuthError("identity has expired; the app must send a fresh one")
        if int(expires) > now + MAX_IDENTITY_TTL:
            raise AuthError(f"identity is valid for too long (at most {MAX_IDENTITY_TTL // 3600} h)")
        return customer_id

    # ------------------------------------------------------------------ conversation tokens
    def _record(self, sender_id: str) -> tuple[str, str | None] | None:
        if self.engine is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(conversation_tokens.c.token_hash, conversation_tokens.c.customer_id)
                               .where(conversation_tokens.c.sender_id == sender_id)).first()
        return (row.token_hash, row.customer_id) if row is not None else None

    def issue(self, sender_id: str, customer_id: str | None) -> str:
        """A new random token for ``sender_id`` (replaces any previous one); returns it (stored hashed)."""
        token = secrets.token_urlsafe(24)
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(conversation_tokens.delete().where(conversation_tokens.c.sender_id == sender_id))
            conn.execute(conversation_tokens.insert().values(sender_id=sender_id, token_hash=_hash(token),
                                                             customer_id=customer_id, created_at=time.time()))
        return token

    def known(self, sender_id: str) -> bool:
        """The conversation has a token (it was started through a channel)."""
        return self._record(sender_id) is not None

    def token_ok(self, sender_id: str, given: object) -> bool:
        """``given`` is the current token of ``sender_id``."""
        rec = self._record(sender_id)
        return (rec is not None and isinstance(given, str) and bool(given)
                and hmac.compare_digest(rec[0], _hash(given)))

    def authorized(self, request: Request) -> bool:
        """The request carries the API token."""
        given = bearer(request)
        return bool(given) and _same(given, self.token)

    def may_read(self, request: Request, sender_id: str) -> bool:
        """Conversation token (``?token=`` / ``X-Conversation-Token``), the bound customer's identity or API token."""
        given = request.headers.get("x-conversation-token") or request.args.get("token", "")
        if self.token_ok(sender_id, given) or self.authorized(request):
            return True
        identity = request.headers.get("x-customer-identity") or request.args.get("identity")
        if identity and self.identity_secret:
            rec = self._record(sender_id)
            try:
                return rec is not None and rec[1] is not None and self.verify_identity(identity) == rec[1]
            except AuthError:
                return False
        return False

    def admit(self, sender_id: str | None, token: object, identity: object, is_new: bool,
              issue: bool = True) -> Caller:
        """Decide whether a message may go into ``sender_id`` (None: the server picks the id).

        Raises :class:`AuthError`. A new conversation gets a token (``Caller.new_token``).
        """
        customer_id = self.verify_identity(identity) if identity not in (None, "") else None
        if sender_id is None:
            sender_id = (CUSTOMER_PREFIX + customer_id if customer_id
                         else VISITOR_PREFIX + secrets.token_urlsafe(12).replace("_", "x").replace("-", "y"))
        if sender_id.startswith(CUSTOMER_PREFIX) and sender_id != CUSTOMER_PREFIX + (customer_id or "\0"):
            raise AuthError("this conversation belongs to a signed-in customer; send their identity", 403)
        rec = self._record(sender_id)
        if rec is None:
            if not is_new and not (customer_id and sender_id == CUSTOMER_PREFIX + customer_id):
                raise AuthError("this conversation needs its token (X-Conversation-Token)")
            if not issue:
                return Caller(sender_id, customer_id, fresh=True)
            return Caller(sender_id, customer_id, self.issue(sender_id, customer_id))
        if token not in (None, "") and self.token_ok(sender_id, token):
            return Caller(sender_id, rec[1])
        if customer_id is not None and rec[1] == customer_id:
            return Caller(sender_id, customer_id)
        if token not in (None, ""):
            raise AuthError("invalid conversation token")
        raise AuthError("this conversation needs its token (X-Conversation-Token) or the customer's identity")

    def rotate(self, sender_id: str) -> str:
        """Replace the conversation's token (the caller was already admitted); returns the new one."""
        rec = self._record(sender_id)
        return self.issue(sender_id, rec[1] if rec else None)
