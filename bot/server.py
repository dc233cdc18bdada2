"""Sanic app factory for the bot server (rasa-sdk style ``create_app()``).

Routes so far: ``POST /model/parse`` (Rasa's NLU endpoint), ``GET /health``, ``GET /version``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from . import __version__
from .config import Settings
from .nlu.pipeline import NLUPipeline, ParseInputError

_app_ids = itertools.count()


def error(status: int, message: str, reason: str = "BadRequest") -> HTTPResponse:
    """A Rasa-style error body with a clear message."""
    return json_response({"version": __version__, "status": "failure", "message": message, "reason": reason,
                          "code": status}, status=status)


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


def create_app(settings: Settings, pipeline: NLUPipeline | None = None, name: str | None = None) -> Sanic:
    """Build the bot's Sanic app; loads the NLU pipeline from ``settings`` unless one is given."""
    app = Sanic(name or f"bankbot_{next(_app_ids)}")
    app.config.REQUEST_MAX_SIZE = max(1_000_000, settings.max_message_chars * 8)
    app.ctx.settings = settings
    app.ctx.nlu = pipeline or NLUPipeline.from_settings(settings)
    app.ctx.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu")
    max_body = settings.max_message_chars * 8 + 4096

    async def parse_text(text: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(app.ctx.executor, app.ctx.nlu.parse, text)

    app.ctx.parse_text = parse_text

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
        return json_response(result, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    return app


def serve(settings: Settings) -> None:
    """Run the server in this process until interrupted."""
    app = create_app(settings, name="bankbot")
    print(f"bankbot {__version__} serving on http://{settings.host}:{settings.port} (model {app.ctx.nlu.model_path})")
    app.run(host=settings.host, port=settings.port, single_process=True, access_log=False, motd=False)
