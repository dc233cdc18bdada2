"""Operations: Prometheus metrics at ``/metrics``, readiness at ``/ready``, structured JSON logs.

Metrics (prometheus-client, one registry per app): request count and latency per route, NLU parse latency,
queue length, the longest current wait, agents online and their load, open websockets, errors (5xx).
``/ready`` answers 200 when the model is loaded and the database (and Redis, when configured) answer.
``log_format = "json"`` writes one JSON object per log line with the conversation id of the turn.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response
from sqlalchemy import text
from sqlalchemy.engine import Engine

from handoff.queue import HandoffService

from .channels.hub import SocketHub
from .nlu.pipeline import NLUPipeline

#: the conversation a log line belongs to (set by the app around each customer turn)
conversation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("conversation_id", default=None)
ParseFn = Callable[[Any], Awaitable[dict[str, Any]]]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, conversation_id, instance, exception."""

    def __init__(self, instance: str = "") -> None:
        """``instance`` is added to every line."""
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        out: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage(), "conversation_id": conversation_id.get(),
                               "instance": self.instance}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(log_format: str, instance: str = "") -> None:
    """``json``: JSON lines on stderr for bankbot's and Sanic's loggers; ``text``: leave the readable default."""
    if log_format != "json":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(instance))
    for name in ("", "sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("bankbot").setLevel(logging.INFO)


class Metrics:
    """The app's Prometheus metrics."""

    def __init__(self) -> None:
        """A private registry (several apps may live in one test process)."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("bankbot_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("bankbot_request_seconds", "HTTP request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.parse = Histogram("bankbot_nlu_parse_seconds", "NLU parse latency (batched)", buckets=LATENCY_BUCKETS,
                               registry=r)
        self.errors = Counter("bankbot_errors_total", "server errors (5xx)", ["route"], registry=r)
        self.queue_length = Gauge("bankbot_queue_length", "chats waiting for an agent", registry=r)
        self.waiting = Gauge("bankbot_queue_longest_wait_seconds", "longest current wait in the queue", registry=r)
        self.agents_online = Gauge("bankbot_agents_online", "agents with status online", registry=r)
        self.agent_load = Gauge("bankbot_agent_load", "assigned chats per online agent", ["agent"], registry=r)
        self.websockets = Gauge("bankbot_websocket_connections", "open customer websockets (this instance)",
                                registry=r)

    def timed_parse(self, parse: ParseFn) -> ParseFn:
        """``parse`` with its latency recorded."""
        async def timed(text_in: Any) -> dict[str, Any]:
            t0 = time.perf_counter()
            try:
                return await parse(text_in)
            finally:
                self.parse.observe(time.perf_counter() - t0)

        return timed

    def install(self, app: Sanic) -> None:
        """Count and time every request."""
        @app.on_request
        async def _start(request: Request) -> None:
            request.ctx.t0 = time.perf_counter()

        @app.on_response
        async def _done(request: Request, response: HTTPResponse) -> None:
            route = request.route.path if request.route else "unmatched"
            t0 = getattr(request.ctx, "t0", None)
            if t0 is not None:
                self.latency.labels(route).observe(time.perf_counter() - t0)
            self.requests.labels(route, request.method, str(response.status)).inc()
            if response.status >= 500:
                self.errors.labels(route).inc()

    def refresh(self, handoff: HandoffService, hub: SocketHub) -> None:
        """Set the gauges from the current state (at scrape time)."""
        queue = handoff.queue()
        self.queue_length.set(len(queue))
        self.waiting.set(max((c["wait_seconds"] for c in queue), default=0))
        online = [a for a in handoff.agents() if a["status"] == "online"]
        self.agents_online.set(len(online))
        self.agent_load.clear()
        for a in online:
            self.agent_load.labels(a["username"]).set(a["load"])
        self.websockets.set(hub.connections())


def ops_blueprint(metrics: Metrics, nlu: NLUPipeline, engine: Engine, handoff: HandoffService, hub: SocketHub,
                  redis_ping: Callable[[], Awaitable[bool]] | None = None) -> Blueprint:
    """``GET /metrics`` and ``GET /ready``."""
    bp = Blueprint("ops")

    @bp.get("/metrics")
    async def prometheus(request: Request) -> HTTPResponse:
        metrics.refresh(handoff, hub)
        return raw(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @bp.get("/ready")
    async def ready(request: Request) -> HTTPResponse:
        checks: dict[str, bool] = {"model": nlu.model is not None}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # noqa: BLE001 - readiness: any failure means not ready
            checks["database"] = False
        if redis_ping is not None:
            checks["redis"] = await redis_ping()
        ok = all(checks.values())
        return json_response({"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503)

    return bp
