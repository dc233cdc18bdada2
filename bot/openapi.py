"""Typed API description: pydantic models of the request bodies and the one error body, and an OpenAPI 3
document built from them, from the success bodies' models (:mod:`bot.api_models`) and from the app's routes
(``GET /openapi.json``, human page at ``GET /docs``).

Every route of the app appears as an operation; path ids are integers from 0 to 2^63-1, strings have
length bounds, bodies use the models below (``BODIES``). The handlers enforce the same bounds (see
``bot.inputs`` and the handlers' checks) and answer bad input with :class:`ErrorBody` and a 4xx.
"""

from __future__ import annotations

import html
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import html as html_response
from sanic.response import json as json_response

from . import __version__
from .api_models import RESPONSES, Ready
from .inputs import MAX_ID

Text64 = Field(min_length=1, max_length=64)
SENDER_PATTERN = r"^[A-Za-z0-9_.@:\-]{1,64}$"
#: what the handlers accept as a message text (bot.inputs.text_problem): no control characters but tab and
#: line breaks, not U+FFFE/U+FFFF, and something besides blanks (lone surrogates can't be written here)
_OK_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]"
PLAIN_TEXT = rf"^{_OK_CHAR}*[^\s\x00-\x1f\x7f-\x9f\ufffe\uffff]{_OK_CHAR}*$"
PLAIN_OR_EMPTY = rf"^{_OK_CHAR}*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """The error answer of every endpoint (bot, channels, handoff)."""

    version: str
    status: Literal["failure"]
    message: str = Field(max_length=2000, description="what was wrong, in words a developer can act on")
    reason: str = Field(max_length=40, description="BadRequest, Unauthorized, NotFound, TooManyRequests, ...")
    code: int = Field(ge=400, le=599)


class ParseRequest(_Model):
    """``POST /model/parse``."""

    text: str = Field(min_length=1, max_length=2000, pattern=PLAIN_TEXT)
    message_id: str | None = Field(default=None, max_length=64)


class WebhookRequest(_Model):
    """``POST /webhooks/rest/webhook`` (Rasa's REST channel)."""

    sender: str = Field(pattern=SENDER_PATTERN)
    message: str = Field(min_length=1, max_length=2000, pattern=PLAIN_TEXT)
    metadata: dict[str, Any] | None = None
    identity: str | None = Field(default=None, max_length=200, description="signed customer identity")
    token: str | None = Field(default=None, max_length=64, description="the conversation token")
    message_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$",
                                   description="the client's id of the message: a retry with it is not run again")


class StartConversation(_Model):
    """``POST /conversations``: no body for a visitor, or the app's identity token."""

    identity: str | None = Field(default=None, max_length=200)


class LoginRequest(_Model):
    """``POST /agent/login``."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class StatusRequest(_Model):
    """``POST /agent/status``."""

    status: Literal["online", "away", "offline"]


class TextRequest(_Model):
    """A text an agent sends or notes (replies, notes, lint)."""

    text: str = Field(min_length=1, max_length=4000, pattern=PLAIN_TEXT)


class GuideRequest(_Model):
    """``POST /agent/chats/<id>/guide``."""

    guide_id: str = Field(min_length=1, max_length=64)


class TransferRequest(_Model):
    """``POST /agent/chats/<id>/transfer``: to a colleague or a skill group."""

    to_agent: int | None = Field(default=None, ge=0, le=MAX_ID)
    to_skill: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=1000, pattern=PLAIN_OR_EMPTY)


class CloseRequest(_Model):
    """``POST /agent/chats/<id>/close``."""

    disposition: Literal["resolved", "follow_up", "no_response", "transferred_offline", "other"]


class TicketRequest(_Model):
    """``POST /agent/chats/<id>/ticket``."""

    kind: Literal["callback", "result_notice"]
    due_at: float | None = Field(default=None, ge=0, le=1e11)
    note: str = Field(default="", max_length=2000, pattern=PLAIN_OR_EMPTY)


class LabelRequest(_Model):
    """Intent corrections."""

    intent: str = Field(min_length=1, max_length=64)


class PhraseRequest(_Model):
    """``POST /agent/phrases``."""

    code: str = Field(pattern=r"^/\S{1,31}$")
    text: str = Field(min_length=1, max_length=2000, pattern=PLAIN_TEXT)
    shared: bool = False


class TagRequest(_Model):
    """``POST /agent/chats/<id>/tags``."""

    tag: str = Field(min_length=1, max_length=32, description="one of the ``tags`` of ``GET /agent/labels``")


class ReviewRequest(_Model):
    """``POST /trainer/corrections/<id>``."""

    action: Literal["accept", "relabel", "reject"]
    intent: str | None = Field(default=None, max_length=64)


class AssignRequest(_Model):
    """``POST /supervisor/chats/<id>/assign``."""

    to_agent: int = Field(ge=0, le=MAX_ID, description="the colleague's agent id")


#: request body model per (method, path as routed)
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/model/parse"): ParseRequest,
    ("POST", "/webhooks/rest/webhook"): WebhookRequest,
    ("POST", "/conversations"): StartConversation,
    ("POST", "/agent/login"): LoginRequest,
    ("POST", "/agent/status"): StatusRequest,
    ("POST", "/agent/chats/<sid:int>/messages"): TextRequest,
    ("POST", "/agent/chats/<sid:int>/guide"): GuideRequest,
    ("POST", "/agent/chats/<sid:int>/transfer"): TransferRequest,
    ("POST", "/agent/chats/<sid:int>/close"): CloseRequest,
    ("POST", "/agent/chats/<sid:int>/ticket"): TicketRequest,
    ("POST", "/agent/chats/<sid:int>/notes"): TextRequest,
    ("POST", "/agent/chats/<sid:int>/tags"): TagRequest,
    ("POST", "/agent/messages/<event_id:int>/label"): LabelRequest,
    ("POST", "/agent/phrases"): PhraseRequest,
    ("POST", "/agent/lint"): TextRequest,
    ("POST", "/trainer/corrections/<lid:int>"): ReviewRequest,
    ("POST", "/trainer/low-confidence/<event_id:int>"): LabelRequest,
    ("POST", "/supervisor/chats/<sid:int>/assign"): AssignRequest,
}
#: query parameters with their schemas
QUERY: dict[str, dict[str, Any]] = {
    "after": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "token": {"type": "string", "maxLength": 128},
    "q": {"type": "string", "maxLength": 200},
    "since": {"type": "string", "maxLength": 32},
    "until": {"type": "string", "maxLength": 32},
    "from": {"type": "string", "format": "date", "description": "first day YYYY-MM-DD (included)"},
    "to": {"type": "string", "format": "date", "description": "last day YYYY-MM-DD (included)"},
    "lang": {"type": "string", "enum": ["zh", "en"]},
    "format": {"type": "string", "enum": ["json", "html"]},
    "status": {"type": "string", "enum": ["open", "done", "all"]},
    "sender": {"type": "string", "pattern": SENDER_PATTERN},
}
_QUERY_OF = {"/conversations/<sender>/messages": ["after", "token"], "/agent/phrases": ["q"],
             "/supervisor/report": ["from", "to", "lang", "since", "until", "format"], "/agent/tickets": ["status"],
             "/agent/messages/<event_id:int>/label": ["sender"], "/agent/guides/search": ["q"]}
_PARAM = re.compile(r"<([A-Za-z_]+)(?::([a-z]+))?>")
_SKIP = ("/static", "/guides/img", "/console/static", "/docs", "/openapi.json")


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    if model is TagRequest:  # the tags are data (data/handoff/labels.yml): the spec lists today's
        from handoff.labels import load_labels

        schema["properties"]["tag"]["enum"] = sorted(load_labels().get("tags", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


#: schemas of the free-form success bodies (their keys are data)
_FREE_FORM: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/agent/intents"): {"type": "array", "items": {"type": "string"}},
    ("GET", "/agent/labels"): {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}}}},
    ("GET", "/supervisor/report"): {"type": "object"},
}
_ERRORS = {"400": "bad input", "401": "no or wrong credentials", "403": "not allowed", "404": "not found",
           "409": "conflict", "413": "too large", "429": "rate limited (see Retry-After)",
           "503": "busy or not ready (see Retry-After)"}


def _success(method: str, raw: str, components: dict[str, Any]) -> dict[str, Any]:
    """The operation's documented success answer (``bot.api_models.RESPONSES``)."""
    resp = RESPONSES.get((method, raw))
    if resp is None:
        return {"200": {"description": "OK"}}
    if resp.model is not None:
        ref = _schema_of(resp.model, components)
        content = {"application/json": {"schema": {"type": "array", "items": ref} if resp.many else ref}}
        return {str(resp.status): {"description": (resp.model.__doc__ or "OK").strip().splitlines()[0],
                                   "content": content}}
    if resp.free_form is not None:
        content = {"application/json": {"schema": _FREE_FORM[(method, raw)]}}
        if raw == "/supervisor/report":
            content["text/html"] = {"schema": {"type": "string"}}
        return {str(resp.status): {"description": resp.free_form, "content": content}}
    return {str(resp.status): {"description": "OK", "content": {resp.media: {"schema": {"type": "string"}}}}}


def build_spec(app: Sanic) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s HTTP routes (websockets are described in docs/channels.md)."""
    components: dict[str, Any] = {}
    error_ref = _schema_of(ErrorBody, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        # as the handlers were declared: Sanic spells an untyped parameter <sender:str>
        raw = "/" + route.path.lstrip("/").replace(":str>", ">")
        if raw.startswith(_SKIP) or raw in ("/webhooks/websocket", "/agent/ws"):
            continue
        handler = getattr(route.handler, "func", route.handler)
        oas_path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", raw)
        params: list[dict[str, Any]] = []
        for name, kind in _PARAM.findall(raw):
            schema = ({"type": "integer", "minimum": 0, "maximum": MAX_ID} if kind == "int"
                      else {"type": "string", "minLength": 1, "maxLength": 64})
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        for q in _QUERY_OF.get(raw, []):
            params.append({"name": q, "in": "query", "required": False, "schema": QUERY[q]})
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{method.lower()}_{route.name.split('.')[-1]}",
                "summary": (getattr(handler, "__doc__", None) or route.name).strip().splitlines()[0][:120],
                "parameters": params,
                "responses": {
                    **_success(method, raw, components),
                    **{code: {"description": what, "content": {"application/json": {"schema": error_ref}}}
                       for code, what in _ERRORS.items()},
                },
                "security": [{"bearer": []}, {}],
            }
            model = BODIES.get((method, raw))
            if model is not None:
                op["requestBody"] = {"required": raw != "/conversations",
                                     "content": {"application/json": {"schema": _schema_of(model, components)}}}
            elif method in ("POST", "PUT", "PATCH"):
                op["requestBody"] = {"required": False, "content": {"application/json": {
                    "schema": {"type": "object", "maxProperties": 20}}}}
            if raw == "/ready":  # not ready: the same body, status 503
                op["responses"]["503"] = {"description": "not ready", "content": {
                    "application/json": {"schema": _schema_of(Ready, components)}}}
            paths.setdefault(oas_path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "bankbot", "version": __version__,
                 "description": "Bot, channels and agent workspace APIs (docs/channels.md, docs/handoff.md)."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def openapi_blueprint(app: Sanic) -> Blueprint:
    """``GET /openapi.json`` and ``GET /docs`` (built once, on first request, from the routes)."""
    bp = Blueprint("openapi")
    cache: dict[str, Any] = {}

    def spec() -> dict[str, Any]:
        if "spec" not in cache:
            cache["spec"] = build_spec(app)
        return cache["spec"]

    @bp.get("/openapi.json")
    async def openapi_json(request: Request) -> HTTPResponse:
        """The OpenAPI 3 document."""
        return json_response(spec())

    @bp.get("/docs")
    async def docs(request: Request) -> HTTPResponse:
        """Human-readable list of the operations (no external scripts: the CSP allows only this origin)."""
        rows = []
        for path, ops in spec()["paths"].items():
            for method, op in ops.items():
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                ref = body.get("$ref", "").rsplit("/", 1)[-1]
                code = next((c for c in op["responses"] if c.startswith("2")), "200")
                ok: dict[str, Any] = op["responses"].get(code, {})
                out = (ok.get("content") or {}).get("application/json", {}).get("schema", {})
                answer = (out.get("$ref") or out.get("items", {}).get("$ref") or "").rsplit("/", 1)[-1]
                answer = f"{code} {answer}{'[]' if out.get('type') == 'array' and answer else ''}".strip()
                rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                            f"<td>{html.escape(op['summary'])}</td><td>{html.escape(ref)}</td>"
                            f"<td>{html.escape(answer)}</td></tr>")
        page = ("<!doctype html><html lang='en'><meta charset='utf-8'><title>bankbot API</title>"
                "<h1>bankbot API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
                "Errors always have the body <code>{version, status: \"failure\", message, reason, code}</code>."
                "</p><table><tr><th>Method</th><th>Path</th><th>What</th><th>Body</th><th>Answer</th></tr>"
                + "".join(rows) + "</table></html>")
        return html_response(page)

    return bp
