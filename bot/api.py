"""The bot's own HTTP API (not a customer channel): NLU parse, health/version, conversation and handoff
reads for the bank's systems (API token), and the supervisors' service report (agent token)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.queue import HandoffService

from . import __version__
from .channels.auth import ConversationAuth, bearer
from .channels.base import dumps, error, read_json
from .dialogue.assistant import InputError, validate_sender
from .dialogue.store import TrackerStore
from .nlu.pipeline import NLUPipeline, ParseInputError

ParseText = Callable[[Any], Awaitable[dict[str, Any]]]


def api_blueprint(nlu: NLUPipeline, parse_text: ParseText, store: TrackerStore, handoff: HandoffService,
                  auth: ConversationAuth, max_body: int) -> Blueprint:
    """``/health``, ``/version``, ``POST /model/parse``, ``/conversations/<sender>/events``, ``/handoffs``,
    ``/supervisor/report``."""
    bp = Blueprint("bot_api")

    @bp.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    @bp.get("/version")
    async def version(request: Request) -> HTTPResponse:
        meta = nlu.model.metadata
        return json_response({"version": __version__, "model": nlu.model_path,
                              "model_trained_at": meta.get("trained_at"), "data_hash": meta.get("data_hash"),
                              "encoder": nlu.model.config.get("encoder")})

    @bp.post("/model/parse")
    async def model_parse(request: Request) -> HTTPResponse:
        payload, err = read_json(request, max_body)
        if err:
            return err
        if not isinstance(payload, dict) or "text" not in payload:
            return error(400, "expected a JSON object with a 'text' field, e.g. {\"text\": \"查余额\"}")
        try:
            result = await parse_text(payload["text"])
        except ParseInputError as exc:
            return error(400, str(exc))
        if payload.get("message_id") is not None:
            result["message_id"] = payload["message_id"]
        return json_response(result, dumps=dumps)

    @bp.get("/conversations/<sender>/events")
    async def conversation_events(request: Request, sender: str) -> HTTPResponse:
        if not auth.authorized(request):
            return error(401, "missing or invalid API token", "Unauthorized")
        try:
            validate_sender(sender)
        except InputError as exc:
            return error(400, str(exc))
        conv = store.load(sender)
        if conv.is_new:
            return error(404, f"no conversation with sender {sender!r}", "NotFound")
        return json_response({"sender_id": sender, "state": conv.state, "events": store.events(sender)},
                             dumps=dumps)

    @bp.get("/handoffs")
    async def handoffs(request: Request) -> HTTPResponse:
        if not auth.authorized(request):
            return error(401, "missing or invalid API token", "Unauthorized")
        out = [{"sender_id": c["sender_id"], "status": "queued", "queue_position": i, "reason": c["reason"],
                "context": c["context"]} for i, c in enumerate(handoff.queue())]
        out += [{"sender_id": c["sender_id"], "status": "assigned", "agent_id": c["agent_id"], "reason": c["reason"],
                 "context": c["context"]} for c in map(handoff.chat, (r.id for r in handoff.store.sessions_with(
                     "assigned")))]
        return json_response({"handoffs": out}, dumps=dumps)

    @bp.get("/supervisor/report")
    async def supervisor_report(request: Request) -> HTTPResponse:
        """The service report for supervisors/trainers (HTML with charts, or ``?format=json``).

        ``from``/``to``: whole days ``YYYY-MM-DD`` (both included; default the last 7 days); ``lang``: zh|en.
        The older ``since``/``until`` (ISO dates or datetimes, ``until`` excluded) still work. The agent
        token travels only in the ``Authorization`` header.
        """
        from sanic.response import html as html_response

        from .analytics.metrics import Window, compute
        from .analytics.report import REPORT_CSS_URL, charts, check_lang, render_html

        if "token" in request.args:
            return error(400, "send the agent token in the Authorization header, never in the URL")
        row = handoff.store.agent_for_token(bearer(request))
        if row is None:
            return error(401, "missing or invalid agent token", "Unauthorized")
        if row.role not in ("supervisor", "trainer"):
            return error(403, "the service report is for supervisors and trainers", "Forbidden")
        fmt = request.args.get("format", "html")
        if fmt not in ("html", "json"):
            return error(400, f"'format' must be html or json, got {fmt[:20]!r}")
        try:
            lang = check_lang(request.args.get("lang"))
            if "since" in request.args or "until" in request.args:
                if "from" in request.args or "to" in request.args:
                    raise ValueError("use either 'from'/'to' or 'since'/'until', not both")
                window = Window.parse(request.args.get("since"), request.args.get("until"))
            else:
                window = Window.from_dates(request.args.get("from"), request.args.get("to"))
        except ValueError as exc:
            return error(400, f"bad report parameters: {exc}")
        # the queries and the charts take a while on a big window: off the event loop, so chats don't wait
        report = await asyncio.to_thread(compute, store, window, handoff.store)
        if fmt == "json":
            return json_response(report, dumps=dumps)
        page = await asyncio.to_thread(lambda: render_html(report, charts(report, lang), lang,
                                                           stylesheet=REPORT_CSS_URL))
        return html_response(page)

    return bp
