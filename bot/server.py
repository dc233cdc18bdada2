"""Sanic app factory for the bot server (rasa-sdk style ``create_app()``).

Routes: ``POST /model/parse`` (Rasa's NLU endpoint), ``POST /webhooks/rest/webhook`` (Rasa's REST
channel), ``/webhooks/websocket`` (widget channel with server push), ``GET /widget``, guide images,
``GET /conversations/<sender>/events`` and ``GET /handoffs`` (API token), ``GET /health``,
``GET /version``. See docs/channels.md.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sanic import Request, Sanic, Websocket
from sanic.response import HTTPResponse, file
from sanic.response import json as json_response

from actions.guides import guides
from handoff.api import create_blueprint
from handoff.queue import HandoffService
from handoff.store import HandoffStore

from . import __version__
from .channels.batching import ParseBatcher
from .config import Settings
from .db import make_engine
from .dialogue.assistant import Assistant, InputError, validate_sender
from .dialogue.bot_link import AssistantBotLink
from .dialogue.policy import Policy, PolicyConfig
from .dialogue.store import TrackerStore
from .nlu.pipeline import NLUPipeline, ParseInputError

ROOT = Path(__file__).resolve().parents[1]
STATIC = Path(__file__).resolve().parent / "channels" / "static"
GUIDE_IMAGES = ROOT / "data" / "guides" / "img"
_app_ids = itertools.count()


def error(status: int, message: str, reason: str = "BadRequest") -> HTTPResponse:
    """A Rasa-style error body with a clear message."""
    return json_response({"version": __version__, "status": "failure", "message": message, "reason": reason,
                          "code": status}, status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def read_json(request: Request, max_bytes: int) -> tuple[Any, HTTPResponse | None]:
    """Parse the request body as JSON, or return the 4xx response to send."""
    body = request.body or b""
    if len(body) > max_bytes:
        return None, error(413, f"request body too large ({len(body)} bytes, at most {max_bytes})", "PayloadTooLarge")
    if not body.strip():
        return None, error(400, "request body is empty; send a JSON object")
    try:
        return json.loads(body.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, error(400, f"request body is not valid JSON: {exc}")


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


def create_app(settings: Settings, pipeline: NLUPipeline | None = None, name: str | None = None) -> Sanic:
    """Build the bot's Sanic app; loads the NLU pipeline from ``settings`` unless one is given."""
    app = Sanic(name or f"bankbot_{next(_app_ids)}")
    app.config.REQUEST_MAX_SIZE = max(1_000_000, settings.max_message_chars * 8)
    app.config.WEBSOCKET_MAX_SIZE = settings.max_message_chars * 8 + 4096
    app.ctx.settings = settings
    app.ctx.nlu = pipeline or NLUPipeline.from_settings(settings)
    app.ctx.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu")
    app.ctx.token = api_token(settings)
    max_body = settings.max_message_chars * 8 + 4096

    batcher = ParseBatcher(app.ctx.nlu, app.ctx.executor)

    async def parse_text(text: Any) -> dict[str, Any]:
        return await batcher.parse(text)

    engine = make_engine(settings.database)
    store = TrackerStore(engine)
    handoff = HandoffService(HandoffStore(engine))
    policy = Policy(guide_ids=set(guides()), config=PolicyConfig(confirm_threshold=settings.confirm_threshold))
    assistant = Assistant(parse_text, store, policy, set(app.ctx.nlu.model.intents), gateway=handoff)
    handoff.bot = AssistantBotLink(assistant)
    app.ctx.store = store
    # warm up before the server listens: /health answers only once the first request is as fast as the rest
    app.ctx.warmup_s = app.ctx.nlu.warm_up() if settings.warm_up else 0.0
    store.load("warm-up")
    app.ctx.assistant = assistant
    app.ctx.handoff = handoff
    app.blueprint(create_blueprint(handoff, guides))
    sockets: dict[str, set[Websocket]] = {}
    app.ctx.sockets = sockets

    async def send_frame(sender_id: str, frame: dict[str, Any]) -> None:
        for ws in list(sockets.get(sender_id, ())):
            try:
                await ws.send(_dumps(frame))
            except Exception:  # noqa: BLE001 - a dead socket is dropped, the message stays stored
                sockets.get(sender_id, set()).discard(ws)

    async def push(sender_id: str, messages: list[dict[str, Any]], kind: str = "bot", agent: str | None = None) -> None:
        for m in messages:
            frame: dict[str, Any] = {"type": kind, "message": m}
            if agent:
                frame["agent"] = agent
            await send_frame(sender_id, frame)

    assistant.listeners.append(push)
    assistant.frame_listeners.append(send_frame)
    app.ctx.push = push

    def conversation_token(sender_id: str) -> str:
        """Secret that lets a customer read their own conversation (HMAC of the sender id)."""
        return hmac.new(app.ctx.token.encode(), sender_id.encode(), hashlib.sha256).hexdigest()[:32]

    def may_read(request: Request, sender_id: str) -> bool:
        given = request.args.get("token") or request.headers.get("x-conversation-token", "")
        return secrets.compare_digest(given, conversation_token(sender_id)) or authorized(request)

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.args.get("token", "")
        return bool(given) and secrets.compare_digest(given, app.ctx.token)

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    @app.get("/version")
    async def version(request: Request) -> HTTPResponse:
        meta = app.ctx.nlu.model.metadata
        return json_response({"version": __version__, "model": app.ctx.nlu.model_path,
                              "model_trained_at": meta.get("trained_at"), "data_hash": meta.get("data_hash"),
                              "encoder": app.ctx.nlu.model.config.get("encoder")})

    @app.post("/model/parse")
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
        return json_response(result, dumps=_dumps)

    @app.post("/webhooks/rest/webhook")
    async def rest_webhook(request: Request) -> HTTPResponse:
        payload, err = read_json(request, max_body)
        if err:
            return err
        if not isinstance(payload, dict):
            return error(400, "expected a JSON object like {\"sender\": \"u1\", \"message\": \"查余额\"}")
        missing = [k for k in ("sender", "message") if k not in payload]
        if missing:
            return error(400, f"missing field(s): {', '.join(missing)}")
        try:
            turn = await assistant.handle(payload["sender"], payload["message"], "rest", payload.get("metadata"))
        except InputError as exc:
            return error(400, str(exc))
        headers = {"X-Conversation-Token": conversation_token(payload["sender"])} if turn.new_conversation else None
        return json_response(turn.messages, dumps=_dumps, headers=headers)

    @app.get("/conversations/<sender>/messages")
    async def poll_messages(request: Request, sender: str) -> HTTPResponse:
        """REST clients poll for agent replies and pushed bot messages (customer token required)."""
        try:
            validate_sender(sender)
        except InputError as exc:
            return error(400, str(exc))
        if not may_read(request, sender):
            return error(401, "missing or invalid conversation token", "Unauthorized")
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            return error(400, "'after' must be an event id (integer)")
        out = []
        for e in store.events(sender, types=["bot", "agent"], after_id=after):
            msg = {k: e[k] for k in ("text", "image", "buttons", "custom") if e.get(k)}
            out.append({"recipient_id": sender, "event_id": e["id"], "from": e["type"], **msg,
                        **({"agent": e["agent"]} if e.get("agent") else {})})
        return json_response(out, dumps=_dumps)

    @app.websocket("/webhooks/websocket")
    async def websocket(request: Request, ws: Websocket) -> None:
        sender = request.args.get("sender", "")
        try:
            validate_sender(sender)
        except InputError as exc:
            await ws.send(_dumps({"type": "error", "message": str(exc)}))
            await ws.close(code=4000, reason="bad sender")
            return
        existing = not store.load(sender).is_new
        if existing and not may_read(request, sender):
            await ws.send(_dumps({"type": "error", "message": "this conversation needs its token (?token=...)"}))
            await ws.close(code=4401, reason="token required")
            return
        await ws.send(_dumps({"type": "session", "sender": sender, "token": conversation_token(sender)}))
        sockets.setdefault(sender, set()).add(ws)
        try:
            async for raw in ws:
                await _ws_frame(sender, ws, raw)
        finally:
            sockets.get(sender, set()).discard(ws)

    async def _ws_frame(sender: str, ws: Websocket, raw: Any) -> None:
        try:
            frame = json.loads(raw)
        except (TypeError, ValueError):
            await ws.send(_dumps({"type": "error", "message": "frames must be JSON objects"}))
            return
        if not isinstance(frame, dict):
            await ws.send(_dumps({"type": "error", "message": "frames must be JSON objects"}))
            return
        kind = frame.get("type")
        try:
            if kind == "message":
                async def ack(event_id: int) -> None:
                    await ws.send(_dumps({"type": "ack", "event_id": event_id}))

                await assistant.handle(sender, frame.get("text"), "websocket", frame.get("metadata"), on_stored=ack)
            elif kind == "survey":
                await assistant.survey(sender, frame.get("score"), frame.get("reason"), frame.get("comment"))
            elif kind == "ping":
                await ws.send(_dumps({"type": "pong"}))
            else:
                await ws.send(_dumps({"type": "error", "message": f"unknown frame type {kind!r}"}))
        except InputError as exc:
            await ws.send(_dumps({"type": "error", "message": str(exc)}))

    @app.get("/conversations/<sender>/events")
    async def conversation_events(request: Request, sender: str) -> HTTPResponse:
        if not authorized(request):
            return error(401, "missing or invalid API token", "Unauthorized")
        try:
            validate_sender(sender)
        except InputError as exc:
            return error(400, str(exc))
        conv = store.load(sender)
        if conv.is_new:
            return error(404, f"no conversation with sender {sender!r}", "NotFound")
        return json_response({"sender_id": sender, "state": conv.state, "events": store.events(sender)},
                             dumps=_dumps)

    @app.get("/handoffs")
    async def handoffs(request: Request) -> HTTPResponse:
        if not authorized(request):
            return error(401, "missing or invalid API token", "Unauthorized")
        out = [{"sender_id": c["sender_id"], "status": "queued", "queue_position": i + 1, "reason": c["reason"],
                "context": c["context"]} for i, c in enumerate(handoff.queue())]
        out += [{"sender_id": c["sender_id"], "status": "assigned", "agent_id": c["agent_id"], "reason": c["reason"],
                 "context": c["context"]} for c in map(handoff.chat, (r.id for r in handoff.store.sessions_with(
                     "assigned")))]
        return json_response({"handoffs": out}, dumps=_dumps)

    @app.get("/supervisor/report")
    async def supervisor_report(request: Request) -> HTTPResponse:
        """The service report for supervisors/trainers (HTML with charts, or ``?format=json``)."""
        from .analytics.metrics import Window, compute
        from .analytics.report import charts, render_html

        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.args.get("token", "")
        row = handoff.store.agent_for_token(token)
        if row is None:
            return error(401, "missing or invalid agent token", "Unauthorized")
        if row.role not in ("supervisor", "trainer"):
            return error(403, "the service report is for supervisors and trainers", "Forbidden")
        try:
            window = Window.parse(request.args.get("since"), request.args.get("until"))
        except ValueError as exc:
            return error(400, f"bad 'since'/'until': {exc}")
        report = compute(store, window, handoff.store)
        if request.args.get("format") == "json":
            return json_response(report, dumps=_dumps)
        from sanic.response import html as html_response

        return html_response(render_html(report, charts(report)))

    @app.get("/widget")
    async def widget(request: Request) -> HTTPResponse:
        return await file(STATIC / "widget.html", mime_type="text/html; charset=utf-8")

    if STATIC.is_dir():
        app.static("/static", str(STATIC), name="static")
    if GUIDE_IMAGES.is_dir():
        app.static("/guides/img", str(GUIDE_IMAGES), name="guide_images")

    return app


def serve(settings: Settings) -> None:
    """Run the server in this process until interrupted."""
    app = create_app(settings, name="bankbot")
    print(f"bankbot {__version__} serving on http://{settings.host}:{settings.port} (model {app.ctx.nlu.model_path})")
    print(f"  widget: http://{settings.host}:{settings.port}/widget   database: {settings.database}")
    print(f"  warmed up in {app.ctx.warmup_s:.2f} s (tokenizers, encoder, heads, database)")
    app.run(host=settings.host, port=settings.port, single_process=True, access_log=False, motd=False)
