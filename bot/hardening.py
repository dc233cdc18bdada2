"""Process-wide protections of the Sanic app: security headers, one error body, secrets kept out of logs.

``install(app)`` adds a response middleware that sets the security headers on every response (CSP,
X-Frame-Options, nosniff, Referrer-Policy), exception handlers that turn anything unexpected into the
common error body (never a traceback to the client), and a log filter that redacts tokens.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from . import __version__
from .channels.batching import ParseBusy
from .inputs import BadInput
from .ratelimit import RateLimited

#: the pages are served by us only; scripts, styles and sockets only from this origin; framed only by
#: our own pages (the console shows the supervisor report in an iframe)
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            408: "RequestTimeout", 409: "Conflict", 413: "PayloadTooLarge", 414: "URITooLong",
            429: "TooManyRequests", 500: "InternalError", 503: "Unavailable"}
_SECRET = re.compile(r"(?i)((?:token|password|authorization|x-conversation-token|identity)[\"']?\s*[=:]\s*[\"']?"
                     r"(?:bearer\s+)?)[^\s&\"',;]+")

log = logging.getLogger("bankbot")


def error_body(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every bankbot API (bot, channels and handoff)."""
    return {"version": __version__, "status": "failure", "message": message,
            "reason": _REASONS.get(status, "Error"), "code": status}


def redact(text: str) -> str:
    """``text`` with token/password values replaced by ``[redacted]``."""
    return _SECRET.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Logging filter: no token or password reaches a log line (messages, arguments and tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still gets logged
            msg = str(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redact(msg), None
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSecrets` to the root, Sanic's and bankbot's loggers and their handlers."""
    filt = RedactSecrets()
    for name in ("", "sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets", "bankbot"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(filt)
        for h in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in h.filters):
                h.addFilter(filt)


def install(app: Sanic) -> None:
    """Security headers, the common error body and log redaction for ``app``."""
    install_log_redaction()

    @app.on_response
    async def _security_headers(request: Request, response: HTTPResponse) -> None:
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)

    @app.on_request
    async def _sane_path(request: Request) -> HTTPResponse | None:
        path = unquote(request.path)
        if "\x00" in path or len(path) > 2048 or any(len(seg.encode()) > 255 for seg in path.split("/")):
            return json_response(error_body(404, "no such page"), status=404)
        return None

    @app.exception(IsADirectoryError, NotADirectoryError, FileNotFoundError)
    async def _no_file(request: Request, exc: Exception) -> HTTPResponse:
        return json_response(error_body(404, "no such file"), status=404)

    @app.exception(BadInput)
    async def _bad_input(request: Request, exc: BadInput) -> HTTPResponse:
        return json_response(error_body(exc.status, str(exc)), status=exc.status)

    @app.exception(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> HTTPResponse:
        return json_response(error_body(429, str(exc)), status=429, headers={"Retry-After": str(exc.retry_after)})

    @app.exception(ParseBusy)
    async def _busy(request: Request, exc: ParseBusy) -> HTTPResponse:
        return json_response(error_body(503, str(exc)), status=503, headers={"Retry-After": "2"})

    @app.exception(SanicException)
    async def _sanic(request: Request, exc: SanicException) -> HTTPResponse:
        status = int(getattr(exc, "status_code", 500) or 500)
        message = str(exc) if status < 500 else "internal error; the request was logged"
        return json_response(error_body(status, redact(message)[:300]), status=status,
                             headers=getattr(exc, "headers", None) or None)

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTTPResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, redact(request.path[:200]),
                  exc_info=exc)
        return json_response(error_body(500, "internal error; the request was logged"), status=500)
