"""Sanic app factory for the bot server (rasa-sdk style ``create_app()``): wiring only.

Customer channels live in ``bot/channels/`` (REST + polling, websocket, widget; tokens in ``auth``, open
sockets in ``hub``), the bot's own API in ``bot/api.py``, the agent workspace in ``handoff/api.py``.
See docs/channels.md.
"""

from __future__ import annotations

import itertools
import logging
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

from sanic import Request, Sanic

from actions.guides import guides
from handoff.api import create_blueprint
from handoff.queue import HandoffService, lock_demo_agents, seed_demo_agents
from handoff.store import HandoffStore
from handoff.typing import TypingRelay

from . import __version__
from .api import api_blueprint
from .bank.backend import DemoBankBackend
from .channels.auth import ConversationAuth, api_token
from .channels.base import UserMessage, error, read_json
from .channels.batching import ParseBatcher
from .channels.hub import SocketHub
from .channels.rest import RestInput
from .channels.websocket import WebsocketInput
from .channels.widget import widget_blueprint
from .cluster import Cluster
from .config import Settings
from .db import make_engine
from .dialogue.assistant import Assistant, Turn
from .dialogue.bot_link import AssistantBotLink
from .dialogue.identity import OTPVerifier, StubOTPVerifier
from .dialogue.policy import Policy, PolicyConfig
from .dialogue.store import TrackerStore
from .hardening import install
from .migrations import upgrade
from .nlu.pipeline import NLUPipeline
from .openapi import openapi_blueprint
from .ops import Metrics, configure_logging, conversation_id, ops_blueprint
from .ratelimit import RateLimiter

__all__ = ["api_token", "create_app", "error", "read_json", "serve"]
_app_ids = itertools.count()
log = logging.getLogger("bankbot.server")


def announce(message: str) -> None:
    """A start-up warning operators must not miss (stderr, framed)."""
    line = "!" * 78
    print(f"{line}\n!! {message}\n{line}", file=sys.stderr, flush=True)


def create_app(settings: Settings, pipeline: NLUPipeline | None = None, name: str | None = None,
               otp: OTPVerifier | None = None) -> Sanic:
    """Build the bot's Sanic app; loads the NLU pipeline from ``settings`` unless one is given.

    ``otp`` is the bank's passcode service; without one the development stub is used, which is
    announced at start and refused when ``BANKBOT_ENV=production``.
    """
    production = settings.env.strip().lower() == "production"
    otp = otp or StubOTPVerifier()
    if isinstance(otp, StubOTPVerifier):
        if production:
            raise RuntimeError("BANKBOT_ENV=production needs the bank's OTP service: the stub verifier accepts "
                               "any 6 digits; pass otp= to create_app")
        announce("identity check uses the STUB OTP verifier: any 6 digits but 000000 pass (development only)")
    if settings.demo and production:
        raise RuntimeError("demo agents (published passwords) are refused when BANKBOT_ENV=production")
    app = Sanic(name or f"bankbot_{next(_app_ids)}")
    install(app)
    app.config.REQUEST_MAX_SIZE = max(1_000_000, settings.max_message_chars * 8)
    app.config.WEBSOCKET_MAX_SIZE = settings.max_message_chars * 8 + 4096
    max_body = settings.max_message_chars * 8 + 4096
    instance = settings.instance_id or f"{socket.gethostname()}:{settings.port}"
    configure_logging(settings.log_format, instance)
    nlu = pipeline or NLUPipeline.from_settings(settings)
    # warm up before the server listens: /health answers only once the first request is as fast as the rest
    warmup_s = nlu.warm_up() if settings.warm_up else 0.0
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu")
    # long messages get a worker of their own, so ordinary ones never queue behind them
    long_executor = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu-long")
                     if getattr(nlu.encoder, "thread_safe", False) else None)
    metrics = Metrics()
    parse_text = metrics.timed_parse(ParseBatcher(nlu, executor, long_executor=long_executor).parse)
    engine = make_engine(settings.database)
    if settings.migrate_on_start == "always" or (settings.migrate_on_start == "embedded"
                                                  and settings.database.startswith("sqlite")):
        upgrade(engine)
    store = TrackerStore(engine)
    handoff = HandoffService(HandoffStore(engine))
    policy = Policy(guide_ids=set(guides()), config=PolicyConfig(confirm_threshold=settings.confirm_threshold))
    # the bank backend is the plug-in point for core banking (bot/bank/backend.py); the demo one seeds demo customers
    assistant = Assistant(parse_text, store, policy, set(nlu.model.intents), gateway=handoff, otp=otp,
                          bank=DemoBankBackend(engine))
    if settings.demo:
        added = seed_demo_agents(handoff.store)
        announce("DEMO AGENTS with PUBLISHED passwords are enabled (--demo): "
                 f"{', '.join(added) or 'already present'}. Never use --demo with real customers.")
    elif locked := lock_demo_agents(handoff.store):
        announce(f"demo accounts left from an earlier --demo start were locked (published passwords): "
                 f"{', '.join(locked)}. Real accounts come from `bankbot agents add`.")
    handoff.bot = AssistantBotLink(assistant)
    store.load("warm-up")  # the database connection, before the first customer
    auth = ConversationAuth(api_token(settings), engine, settings.identity_secret)
    if not auth.identity_required:
        announce("no BANKBOT_IDENTITY_SECRET: customers are not verified by the bank app; every visitor "
                 "may use account features after the OTP step (development only)")
    cluster = Cluster(settings.redis_url, instance, handoff) if settings.redis_url else None
    hub = cluster.hub if cluster else SocketHub()
    hub.attach(assistant)

    per_sender = RateLimiter(settings.message_rate, settings.message_burst)
    per_client = RateLimiter(settings.client_rate, settings.client_burst)

    @app.on_request
    async def _client_limit(request: Request) -> None:
        if request.path.startswith(("/webhooks/", "/model/parse")) and request.method == "POST":
            per_client.hit(str(request.ip or "unknown"), "requests from this address")

    async def on_message(msg: UserMessage) -> Turn:
        conversation_id.set(msg.sender_id)
        if isinstance(msg.sender_id, str):
            per_sender.hit(msg.sender_id[:64], "messages in this conversation")
        turn = await assistant.handle(msg.sender_id, msg.text, msg.input_channel, msg.metadata, msg.on_stored,
                                      customer_id=msg.customer_id, visitors_limited=auth.identity_required,
                                      message_id=msg.message_id)
        if turn.duplicate:
            log.info("%s retry of stored event %d: not run again", msg.input_channel, turn.user_event_id)
            return turn
        log.info("%s turn: event %d, %d replies", msg.input_channel, turn.user_event_id, len(turn.messages))
        return turn

    app.config.OAS = False  # our own spec, built from the pydantic models (bot/openapi.py)
    app.blueprint(openapi_blueprint(app))
    app.blueprint(RestInput(auth, store, max_body).blueprint(on_message))
    typing_relay = TypingRelay(handoff, assistant.notify_frame)
    app.blueprint(WebsocketInput(auth, store, hub, assistant.survey, typing_relay.from_customer).blueprint(on_message))
    app.blueprint(widget_blueprint())
    app.blueprint(api_blueprint(nlu, parse_text, store, handoff, auth, max_body))
    app.blueprint(create_blueprint(handoff, guides, typing_relay=typing_relay))
    app.blueprint(ops_blueprint(metrics, nlu, engine, handoff, hub, cluster.ping if cluster else None))
    metrics.install(app)
    if cluster is not None:
        cluster.wire()
        assistant.locks = cluster.lock
        app.before_server_start(lambda _app: cluster.start())
        app.after_server_stop(lambda _app: cluster.stop())

    async def _answer_unanswered(_app: Sanic) -> None:
        # before the server listens (so before /health answers): messages stored just before a crash get
        # their reply, stored for the customer's reconnect (the widget's history shows it)
        n = await assistant.answer_unanswered(settings.recover_window_seconds)
        if n:
            log.info("answered %d customer message(s) left without a reply before the restart", n)

    app.before_server_start(_answer_unanswered)

    def _recover_presence(_app: Sanic) -> None:
        # agents still "online" in the database from before the restart: the grace period to reconnect,
        # then offline with their chats re-queued at the front (with Redis the presence keeps its deadlines)
        agents = handoff.recover_presence()
        if agents:
            log.info("%d agent(s) online before the restart: %.0f s to reconnect", len(agents),
                     handoff.config.disconnect_grace_seconds)

    app.before_server_start(_recover_presence)
    app.ctx.settings, app.ctx.nlu, app.ctx.executor, app.ctx.token = settings, nlu, executor, auth.token
    app.ctx.store, app.ctx.assistant, app.ctx.handoff, app.ctx.hub = store, assistant, handoff, hub
    app.ctx.sockets, app.ctx.push, app.ctx.metrics, app.ctx.cluster = hub.sockets, hub.push, metrics, cluster
    app.ctx.warmup_s = warmup_s
    return app


def serve(settings: Settings) -> None:
    """Run the server in this process until interrupted."""
    app = create_app(settings, name="bankbot")
    print(f"bankbot {__version__} serving on http://{settings.host}:{settings.port} (model {app.ctx.nlu.model_path})")
    print(f"  widget: http://{settings.host}:{settings.port}/widget   database: {settings.database}"
          + (f"   redis: {settings.redis_url}" if settings.redis_url else ""))
    print(f"  warmed up in {app.ctx.warmup_s:.2f} s (tokenizers, encoder, heads, database)")
    if not app.ctx.handoff.store.agent_count():
        print("  no agent accounts yet: add one with `bankbot agents add NAME --role supervisor` "
              "(or start a demo with `bankbot run --demo`)")
    app.run(host=settings.host, port=settings.port, single_process=True, access_log=False, motd=False)
