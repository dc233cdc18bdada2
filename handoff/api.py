"""HTTP + websocket API of the agent workspace (docs/handoff.md) and the console page."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from sanic import Blueprint, Request, Websocket
from sanic.response import HTTPResponse, file
from sanic.response import json as json_response

from bot.inputs import MAX_ID, BadInput, check_text, parse_json_body
from bot.ratelimit import LoginGuard, RateLimited, RateLimiter

from .jobs import JobKind, JobRunner
from .labels import load_labels
from .queue import DATA, HandoffError, HandoffService
from .store import agent_dict
from .typing import TypingRelay
from .urgency import customer_names

CONSOLE = Path(__file__).resolve().parent / "console" / "static"
LOW_CONFIDENCE = 0.6
NOTE_MAX = 2000
#: how long the agent socket waits for its first ``auth`` frame
WS_AUTH_SECONDS = 10.0
Handler = Callable[..., Awaitable[HTTPResponse]]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


#: largest accepted JSON body of the agent API
MAX_BODY = 64 * 1024
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            413: "PayloadTooLarge", 429: "TooManyRequests", 500: "InternalError", 503: "Unavailable"}


def _err(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    """The error body every bankbot API answers with (same shape as the bot's)."""
    from bot import __version__

    return json_response({"version": __version__, "status": "failure", "message": message,
                          "reason": _REASONS.get(status, "Error"), "code": status}, status=status, headers=headers)


def client_key(request: Request) -> str:
    """Who is calling, for rate limits: the peer address (a proxy in front sets ``X-Forwarded-For``)."""
    return str(request.ip or "unknown")


def create_blueprint(service: HandoffService, guides: Callable[[], dict[str, Any]],
                     login_guard: LoginGuard | None = None, login_limit: RateLimiter | None = None,
                     typing_relay: TypingRelay | None = None) -> Blueprint:
    """Routes of the handoff service; ``guides()`` lists the guides agents may send; ``typing_relay`` relays the
    agents' typing notices to customers.

    Logins are limited per client (``login_limit``) and locked out after repeated wrong passwords per
    username and per client (``login_guard``); the password hash runs in a worker thread.
    """
    bp = Blueprint("handoff")
    guard = login_guard or LoginGuard()
    limiter = login_limit or RateLimiter(rate=2.0, burst=30)
    consoles: dict[int, set[Websocket]] = {}

    async def notify(agent_id: int, frame: dict[str, Any]) -> None:
        for ws in list(consoles.get(agent_id, ())):
            try:
                await ws.send(_dumps(frame))
            except Exception:  # noqa: BLE001 - a closed console is dropped; state stays in the database
                consoles.get(agent_id, set()).discard(ws)

    service.notify_agent = notify

    def agent_for(token: str) -> dict[str, Any] | None:
        row = service.store.agent_for_token(token) if token else None
        return agent_dict(row) if row is not None else None

    def current_agent(request: Request) -> dict[str, Any] | None:
        """The agent of the ``Authorization: Bearer`` header (the token never travels in a URL)."""
        header = request.headers.get("authorization", "")
        return agent_for(header[7:].strip() if header.lower().startswith("bearer ") else "")

    def body(request: Request) -> dict[str, Any]:
        try:
            data = parse_json_body(request.body, MAX_BODY, empty={})
        except BadInput as exc:
            raise HandoffError(str(exc), exc.status) from exc
        if not isinstance(data, dict):
            raise HandoffError("request body must be a JSON object")
        return data

    def route(method: str, path: str, roles: tuple[str, ...] = ("agent", "supervisor")) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            async def handler(request: Request, **kw: Any) -> HTTPResponse:
                agent = current_agent(request)
                if agent is None:
                    return _err(401, "missing or invalid agent token")
                if agent["role"] not in roles:
                    return _err(403, f"role {agent['role']!r} may not do this")
                for key, value in kw.items():
                    if isinstance(value, int) and not 0 <= value <= MAX_ID:
                        return _err(404, f"no such {key} ({value} is out of range)")
                try:
                    return await fn(request, agent, **kw)
                except HandoffError as exc:
                    return _err(exc.status, str(exc))
                except BadInput as exc:
                    return _err(exc.status, str(exc))

            handler.__name__ = fn.__name__
            bp.add_route(handler, path, methods=[method], name=fn.__name__)
            return fn

        return wrap

    @bp.post("/agent/login")
    async def login(request: Request) -> HTTPResponse:
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            limiter.hit(client_key(request), "login attempts")
            data = body(request)
            username = check_text(data.get("username"), "username", 64)
            password = check_text(data.get("password"), "password", 256)
        except RateLimited as exc:
            return _err(429, str(exc), {**no_store, "Retry-After": str(exc.retry_after)})
        except (HandoffError, BadInput) as exc:
            return _err(getattr(exc, "status", 400), f"{exc}; send {{\"username\": ..., \"password\": ...}}", no_store)
        client = client_key(request)
        try:
            guard.check(username, client)
        except RateLimited as exc:
            return _err(429, str(exc), {**no_store, "Retry-After": str(exc.retry_after)})
        # PBKDF2 takes ~0.1 s of CPU: in a worker thread, so the event loop keeps serving everyone else
        res = await asyncio.to_thread(service.store.login, username, password)
        if res is None:
            guard.failed(username, client)
            return _err(401, "wrong username or password", no_store)
        guard.succeeded(username)
        token, row = res
        return json_response({"token": token, "agent": agent_dict(row)}, dumps=_dumps, headers=no_store)

    @route("GET", "/agent/me", ("agent", "supervisor", "trainer"))
    async def me(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        load = {a["id"]: a["load"] for a in service.agents()}
        return json_response({**agent, "load": load.get(agent["id"], 0)}, dumps=_dumps)

    @route("POST", "/agent/status")
    async def status(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        return json_response(await service.set_status(agent, body(request).get("status", "")), dumps=_dumps)

    @route("GET", "/agent/chats")
    async def chats(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        return json_response(service.my_chats(agent["id"]), dumps=_dumps)

    @route("GET", "/agent/queue")
    async def queue(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        from .routing import can_serve

        items = [c for c in service.queue() if agent["role"] == "supervisor" or can_serve(agent, c["skill"])]
        return json_response([{**service.queue_item(c), "context": c["context"]} for c in items], dumps=_dumps)

    @route("GET", "/agent/agents")
    async def list_agents(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Colleagues to transfer to: id, name, status, load, capacity, skills."""
        return json_response([{k: a[k] for k in ("id", "name", "status", "load", "capacity", "skills", "role")}
                              for a in service.agents() if a["role"] in ("agent", "supervisor")], dumps=_dumps)

    @route("GET", "/agent/intents", ("agent", "supervisor", "trainer"))
    async def list_intents(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Intent names an agent may choose when correcting a label."""
        return json_response(service.bot.intents() if service.bot else [], dumps=_dumps)

    @route("POST", "/agent/logout", ("agent", "supervisor", "trainer"))
    async def logout(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Invalidate this token."""
        header = request.headers.get("authorization", "")
        service.store.revoke(header[7:] if header.lower().startswith("bearer ") else request.args.get("token", ""))
        return json_response({"ok": True})

    @route("POST", "/agent/chats/<sid:int>/pull")
    async def pull(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        return json_response(await service.pull(sid, agent), dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/messages")
    async def reply(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        text = check_text(body(request).get("text"), "text", 4000)
        event_id = await service.reply(sid, agent, {"text": text.strip()})
        return json_response({"event_id": event_id}, dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/guide")
    async def send_guide(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        gid = body(request).get("guide_id")
        guide = guides().get(gid) if isinstance(gid, str) else None
        if guide is None:
            raise HandoffError(f"unknown guide {gid!r}", 404)
        from actions.guides import deep_link, image_url, localized, web_link

        row = service.require_owner(sid, agent)
        lang = row and json.loads(row.context).get("language", "zh")
        text = localized(guide, lang or "zh")
        links = {"deep_link": deep_link(guide["deep_link"]), "web_link": web_link(guide["web_link"])}
        custom = {"type": "guide", "guide_id": gid, "title": text["title"], "mode": "standard",
                  "steps": [{"n": i + 1, "text": s["text"], "image": image_url(s["image"])}
                            for i, s in enumerate(text["steps"])], **links}
        open_app = f"Do it now: {text['title']}" if lang == "en" else f"立即办理：{text['title']}"
        event_id = await service.reply(sid, agent, {"text": text["title"], "custom": custom,
                                                    "buttons": [{"title": open_app, "payload": links["deep_link"]}]})
        return json_response({"event_id": event_id}, dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/read")
    async def read(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        service.require_owner(sid, agent)
        service.store.set_session(sid, unread=0)
        return json_response({"ok": True})

    @route("POST", "/agent/chats/<sid:int>/transfer")
    async def transfer(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        data = body(request)
        note = check_text(data.get("note") or "", "note", 1000, allow_empty=True)
        return json_response(await service.transfer(sid, agent, data.get("to_agent"), data.get("to_skill"), note),
                             dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/return")
    async def give_back(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        await service.finish(sid, agent, "returned")
        return json_response({"ok": True})

    @route("POST", "/agent/chats/<sid:int>/close")
    async def close(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        await service.finish(sid, agent, "closed", body(request).get("disposition"))
        return json_response({"ok": True})

    @route("POST", "/agent/chats/<sid:int>/ticket")
    async def ticket(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        data = body(request)
        kind, due, note = data.get("kind"), data.get("due_at"), data.get("note", "")
        if kind not in ("callback", "result_notice"):
            raise HandoffError("'kind' must be callback or result_notice")
        if due is not None and (isinstance(due, bool) or not isinstance(due, (int, float))):
            raise HandoffError("'due_at' must be a UNIX timestamp")
        note = check_text(note, "note", 2000, allow_empty=True)
        row = service.require_owner(sid, agent)
        tid = service.store.add_ticket(row.sender_id, sid, kind, due, note, agent["id"])
        lang = json.loads(row.context).get("language", "zh")
        text = (f"已为您登记工单（编号 T{tid}），处理完成后会第一时间通知您。" if lang != "en"
                else f"I've logged follow-up request T{tid}; we'll let you know as soon as it's done.")
        await service.reply(sid, agent, {"text": text, "custom": {"type": "ticket", "ticket_id": tid, "kind": kind,
                                                                  "due_at": due}})
        return json_response({"ticket_id": tid}, dumps=_dumps)

    @route("POST", "/agent/tickets/<tid:int>/done")
    async def ticket_done(request: Request, agent: dict[str, Any], tid: int) -> HTTPResponse:
        row = service.store.ticket(tid)
        if row is None:
            raise HandoffError(f"no ticket {tid}", 404)
        if agent["role"] != "supervisor" and row.created_by != agent["id"]:
            raise HandoffError(f"ticket T{tid} belongs to a colleague; its owner or a supervisor closes it", 403)
        if row.status == "done":
            raise HandoffError(f"ticket T{tid} is already done", 409)
        service.store.set_ticket(tid, status="done", done_at=time.time())
        if service.bot is not None:
            await service.bot.send_to_customer(row.sender_id, {
                "text": f"您的工单 T{tid} 已处理完成。如有其他需要，随时联系我们。",
                "custom": {"type": "ticket", "ticket_id": tid, "status": "done"}}, agent["name"])
        return json_response({"ok": True})

    @route("POST", "/agent/messages/<event_id:int>/label")
    async def label(request: Request, agent: dict[str, Any], event_id: int) -> HTTPResponse:
        intent = check_text(body(request).get("intent"), "intent", 64)
        sender = check_text(request.args.get("sender") or "", "sender", 64, allow_empty=True)
        found = None
        for row in service.store.all_sessions():
            if sender and row.sender_id != sender:
                continue
            if service.bot is None:
                break
            for e in service.bot.transcript(row.sender_id):
                if e["id"] == event_id and e["type"] == "user":
                    found = (row, e)
                    break
            if found:
                break
        if found is None:
            raise HandoffError(f"no customer message {event_id} in a handed-off chat", 404)
        row, e = found
        if agent["role"] == "agent" and row.agent_id != agent["id"]:
            raise HandoffError("you can label messages of your own chats", 403)
        p = e.get("parse_data", {}).get("intent", {})
        lid = service.store.add_label(event_id, row.sender_id, e.get("text", ""), p.get("name"), p.get("confidence"),
                                      intent.strip(), agent["id"])
        return json_response({"label_id": lid}, dumps=_dumps)

    phrase_meta = {str(p["code"]): p for p in (yaml.safe_load((DATA / "phrases.yml").read_text(encoding="utf-8"))
                                                or {}).get("phrases", [])} if (DATA / "phrases.yml").is_file() else {}

    @route("GET", "/agent/phrases")
    async def phrases(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Shared phrases (with their scenario group and language) and the agent's own (group ``personal``)."""
        query = check_text(request.args.get("q", ""), "q", 200, allow_empty=True)
        out = []
        for p in service.store.phrases_for(agent["id"], query):
            meta = phrase_meta.get(p["code"], {}) if p["shared"] else {}
            out.append({**p, "group": meta.get("group", "general") if p["shared"] else "personal",
                        "lang": meta.get("lang", "en" if p["code"].endswith("_en") else "zh")})
        return json_response(out, dumps=_dumps)

    @route("POST", "/agent/phrases")
    async def add_phrase(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        data = body(request)
        code = check_text(data.get("code"), "code", 32)
        text = check_text(data.get("text"), "text", 2000)
        if not isinstance(code, str) or not code.startswith("/") or not 2 <= len(code) <= 32 or " " in code:
            raise HandoffError("'code' must look like /greet (no spaces, at most 32 characters)")
        if not isinstance(text, str) or not text.strip() or len(text) > 2000:
            raise HandoffError("'text' must be a non-empty text")
        shared = bool(data.get("shared")) and agent["role"] == "supervisor"
        pid = service.store.add_phrase(None if shared else agent["id"], code, text.strip())
        return json_response({"id": pid, "code": code, "text": text.strip(), "shared": shared}, dumps=_dumps)

    @route("GET", "/agent/guides", ("agent", "supervisor", "trainer"))
    async def list_guides(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        return json_response([{"guide_id": k, "title": (v.get("zh") or {}).get("title", k)}
                              for k, v in guides().items()], dumps=_dumps)

    @route("GET", "/agent/chats/<sid:int>/suggestions")
    async def suggestions(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        row = service.require_owner(sid, agent)
        events = service.bot.transcript(row.sender_id) if service.bot else []
        all_guides = guides()
        users = [e for e in reversed(events) if e["type"] == "user"]
        # the latest message that asked for something a guide answers; else simply the latest one
        last = next((e for e in users if e.get("parse_data", {}).get("intent", {}).get("name") in all_guides),
                    users[0] if users else None)
        out: list[dict[str, Any]] = []
        if last is not None:
            text = last.get("text", "")
            ranking = last.get("parse_data", {}).get("intent_ranking", [])
            for r in ranking:
                g = all_guides.get(r["name"])
                if g and len(out) < 3:
                    out.append({"guide_id": r["name"], "title": (g.get("zh") or {}).get("title", r["name"]),
                                "score": round(float(r["confidence"]), 3)})
            for gid, g in all_guides.items():  # keyword overlap with guide titles as a fallback
                title = (g.get("zh") or {}).get("title", "")
                if len(out) < 5 and gid not in {o["guide_id"] for o in out} and title and any(
                        title[i:i + 2] in text for i in range(len(title) - 1)):
                    out.append({"guide_id": gid, "title": title, "score": 0.1})
        return json_response(out, dumps=_dumps)

    @route("GET", "/supervisor/overview", ("supervisor",))
    async def overview(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        queue = service.queue()
        waits = sorted(c["wait_seconds"] for c in queue)
        return json_response({
            "queue": [service.queue_item(c) for c in queue],
            "agents": service.agents(),
            "waiting": {"count": len(waits), "p50_seconds": statistics.median(waits) if waits else 0,
                        "max_seconds": waits[-1] if waits else 0},
            "active_chats": len(service.store.sessions_with("assigned")),
        }, dumps=_dumps)

    # ------------------------------------------------------------------ labels, service language
    labels_doc = load_labels()

    @bp.get("/agent/labels")
    async def labels(request: Request) -> HTTPResponse:
        """Every display-name list the browser uses (statuses, roles, reasons, intents, ...), zh and en."""
        return json_response(labels_doc, dumps=_dumps, headers={"Cache-Control": "max-age=300"})

    @route("POST", "/agent/lint")
    async def lint(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Service-language check of a draft reply (the rule of ``bankbot data validate``)."""
        from bot.nlu.lint import negative_spans

        text = body(request).get("text")
        if not isinstance(text, str) or len(text) > 4000:
            raise HandoffError("'text' must be a string of at most 4000 characters")
        return json_response({"issues": [{"start": n.start, "end": n.end, "phrase": n.phrase,
                                          "suggestion": n.suggestion} for n in negative_spans(text)]},
                             dumps=_dumps)

    # ------------------------------------------------------------------ notes, tags, tickets, customer
    def chat_row(sid: int, agent: dict[str, Any]) -> Any:
        """A chat the agent owns, or any chat for a supervisor."""
        row = service.store.session(sid)
        if row is None:
            raise HandoffError(f"no chat {sid}", 404)
        if agent["role"] != "supervisor" and row.agent_id != agent["id"]:
            raise HandoffError(f"chat {sid} is not assigned to you", 403)
        return row

    def note_dict(n: Any) -> dict[str, Any]:
        a = service.store.agent(n.agent_id)
        return {"id": n.id, "chat_id": n.session_id, "text": n.text, "created_at": n.created_at,
                "agent": a.name if a is not None else str(n.agent_id)}

    @route("GET", "/agent/chats/<sid:int>/notes")
    async def get_notes(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """Private notes about this customer (all their chats)."""
        row = chat_row(sid, agent)
        return json_response([note_dict(n) for n in service.store.notes_for(row.sender_id)], dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/notes")
    async def add_note(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """A private note: stored for colleagues, never sent to the customer."""
        row = chat_row(sid, agent)
        text = body(request).get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > NOTE_MAX:
            raise HandoffError(f"'text' must be a non-empty text of at most {NOTE_MAX} characters")
        from bot.nlu.entities import mask_sensitive

        nid = service.store.add_note(sid, row.sender_id, agent["id"], mask_sensitive(text.strip()))
        note = next(n for n in service.store.notes_for(row.sender_id) if n.id == nid)
        return json_response(note_dict(note), dumps=_dumps)

    @route("POST", "/agent/chats/<sid:int>/tags")
    async def add_tag(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """Label a chat with one of the tags of ``GET /agent/labels``."""
        row = chat_row(sid, agent)
        tag = body(request).get("tag")
        if not isinstance(tag, str) or tag not in labels_doc.get("tags", {}):
            raise HandoffError(f"'tag' must be one of {', '.join(labels_doc.get('tags', {}))}")
        service.store.add_tag(sid, row.sender_id, tag, agent["id"])
        return json_response({"tags": service.store.tags_for(sid)}, dumps=_dumps)

    @route("DELETE", "/agent/chats/<sid:int>/tags/<tag:str>")
    async def remove_tag(request: Request, agent: dict[str, Any], sid: int, tag: str) -> HTTPResponse:
        """Take a label off a chat."""
        chat_row(sid, agent)
        service.store.remove_tag(sid, tag)
        return json_response({"tags": service.store.tags_for(sid)}, dumps=_dumps)

    def ticket_dict(t: Any) -> dict[str, Any]:
        return {"id": t.id, "chat_id": t.session_id, "kind": t.kind, "due_at": t.due_at, "note": t.note,
                "status": t.status, "created_by": t.created_by, "created_at": t.created_at, "done_at": t.done_at,
                "customer_name": customer_names(t.sender_id, {})[0],
                "overdue": bool(t.status == "open" and t.due_at and t.due_at < time.time())}

    @route("GET", "/agent/tickets")
    async def list_tickets(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Tickets (mine; a supervisor sees all), open first by due time; ``?status=open|done|all``."""
        want = request.args.get("status", "open")
        if want not in ("open", "done", "all"):
            raise HandoffError("'status' must be open, done or all")
        rows = [t for t in service.store.all_tickets()
                if (want == "all" or t.status == want)
                and (agent["role"] == "supervisor" or t.created_by in (agent["id"], None))]
        rows.sort(key=lambda t: (t.status != "open", t.due_at or float("inf"), t.id))
        return json_response([ticket_dict(t) for t in rows], dumps=_dumps)

    @route("GET", "/agent/chats/<sid:int>/customer")
    async def customer_panel(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """Previous chats, survey scores, open tickets, masked card tails and notes of this chat's customer."""
        row = chat_row(sid, agent)
        events = service.bot.transcript(row.sender_id) if service.bot else []
        surveys = [{"score": e.get("score"), "reason": e.get("reason"), "ts": e.get("ts")}
                   for e in events if e.get("type") == "survey"]
        previous = [{"id": s.id, "status": s.status, "reason": s.reason, "created_at": s.created_at,
                     "agent": (a.name if (a := service.store.agent(s.agent_id)) is not None else None)
                     if s.agent_id else None, "disposition": s.disposition, "tags": service.store.tags_for(s.id)}
                    for s in service.store.all_sessions() if s.sender_id == row.sender_id and s.id != sid]
        cards: list[str] = []
        for e in events:
            for ent in (e.get("parse_data") or {}).get("entities", []) if e.get("type") == "user" else []:
                if ent.get("entity") in ("card_number", "account_number"):
                    value = str(ent.get("value", ""))
                    tail = "**** " + value.replace(" ", "")[-4:]
                    if tail not in cards:
                        cards.append(tail)
        ctx = json.loads(row.context)
        name, _ = customer_names(row.sender_id, ctx)
        return json_response({
            "customer_name": name, "previous_chats": previous[-10:], "surveys": surveys[-10:],
            "open_tickets": [ticket_dict(t) for t in service.store.all_tickets()
                             if t.sender_id == row.sender_id and t.status == "open"],
            "card_tails": cards, "notes": [note_dict(n) for n in service.store.notes_for(row.sender_id)],
            "identity_verified": bool(ctx.get("identity_verified")),
        }, dumps=_dumps)

    @route("GET", "/agent/guides/search", ("agent", "supervisor", "trainer"))
    async def search_guides(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Every guide whose title, steps or id match ``?q=`` (all guides when empty), zh and en titles."""
        q = request.args.get("q", "").strip().lower()
        out = []
        for gid, g in guides().items():
            zh, en = g.get("zh") or {}, g.get("en") or {}
            hay = " ".join([gid, str(zh.get("title", "")), str(en.get("title", ""))] +
                           [str(s.get("text", "")) for s in zh.get("steps", []) + en.get("steps", [])]).lower()
            if not q or q in hay:
                out.append({"guide_id": gid, "title": zh.get("title", gid), "title_en": en.get("title", gid)})
        return json_response(out, dumps=_dumps)

    # ------------------------------------------------------------------ supervisor: watch and assign
    @route("GET", "/supervisor/chats", ("supervisor",))
    async def sv_chats(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Every open chat (queued and assigned) with its agent, urgency and preview."""
        out = []
        names = {a["id"]: a["name"] for a in service.agents()}
        for status in ("queued", "assigned"):
            for r in service.store.sessions_with(status):
                item = service.queue_item(service.chat(r.id, with_messages=False))
                out.append({**item, "agent_name": names.get(r.agent_id) if r.agent_id else None})
        return json_response(out, dumps=_dumps)

    @route("GET", "/supervisor/chats/<sid:int>", ("supervisor",))
    async def sv_chat(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """One chat with messages, for watching (the console then gets ``watch_message`` frames)."""
        chat = service.chat(sid)
        service.watchers.setdefault(sid, set()).add(agent["id"])
        return json_response(chat, dumps=_dumps)

    @route("DELETE", "/supervisor/chats/<sid:int>/watch", ("supervisor",))
    async def sv_unwatch(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """Stop watching a chat."""
        service.watchers.get(sid, set()).discard(agent["id"])
        return json_response({"ok": True})

    @route("POST", "/supervisor/chats/<sid:int>/assign", ("supervisor",))
    async def sv_assign(request: Request, agent: dict[str, Any], sid: int) -> HTTPResponse:
        """Assign a waiting chat, or reassign an agent's chat, to a colleague (capacity applies)."""
        to = body(request).get("to_agent")
        if isinstance(to, bool) or not isinstance(to, int):
            raise HandoffError("'to_agent' must be an agent id")
        return json_response(await service.assign(sid, to), dumps=_dumps)

    # ------------------------------------------------------------------ trainer
    trainer_roles = ("trainer", "supervisor")

    def correction_dict(lab: Any, reviews: dict[int, Any]) -> dict[str, Any]:
        r = reviews.get(lab.id)
        a = service.store.agent(lab.agent_id)
        return {"id": lab.id, "event_id": lab.event_id, "text": lab.text, "predicted": lab.predicted_intent,
                "confidence": lab.confidence, "intent": lab.intent, "agent": a.name if a is not None else None,
                "created_at": lab.created_at, "review": r.status if r is not None else "pending",
                "final_intent": r.intent if r is not None else None}

    @route("GET", "/trainer/corrections", trainer_roles)
    async def corrections(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Agents' intent corrections, pending first."""
        reviews = service.store.label_reviews()
        out = [correction_dict(lab, reviews) for lab in service.store.all_labels()]
        out.sort(key=lambda c: (c["review"] != "pending", -c["created_at"]))
        return json_response(out, dumps=_dumps)

    @route("POST", "/trainer/corrections/<lid:int>", trainer_roles)
    async def review_correction(request: Request, agent: dict[str, Any], lid: int) -> HTTPResponse:
        """``{"action": "accept"}``, ``{"action": "relabel", "intent": ...}`` or ``{"action": "reject"}``."""
        data = body(request)
        lab = next((x for x in service.store.all_labels() if x.id == lid), None)
        if lab is None:
            raise HandoffError(f"no correction {lid}", 404)
        action = data.get("action")
        known = set(service.bot.intents()) if service.bot else set()
        if action == "accept":
            status, intent = "accepted", lab.intent
        elif action == "relabel":
            intent = data.get("intent")
            if not isinstance(intent, str) or (known and intent not in known):
                raise HandoffError("'intent' must be a known intent name")
            status = "relabeled"
        elif action == "reject":
            status, intent = "rejected", lab.predicted_intent or lab.intent
        else:
            raise HandoffError("'action' must be accept, relabel or reject")
        service.store.review_label(lid, status, intent, agent["id"])
        return json_response(correction_dict(lab, service.store.label_reviews()), dumps=_dumps)

    @route("POST", "/trainer/low-confidence/<event_id:int>", trainer_roles)
    async def label_low_confidence(request: Request, agent: dict[str, Any], event_id: int) -> HTTPResponse:
        """A trainer labels a low-confidence message (stored as an accepted correction)."""
        intent = body(request).get("intent")
        known = set(service.bot.intents()) if service.bot else set()
        if not isinstance(intent, str) or (known and intent not in known):
            raise HandoffError("'intent' must be a known intent name")
        for item in low_confidence_items():
            if item["event_id"] == event_id:
                lid = service.store.add_label(event_id, item["sender_id"], item["text"], item["intent"],
                                              item["confidence"], intent, agent["id"])
                service.store.review_label(lid, "accepted", intent, agent["id"])
                return json_response({"label_id": lid}, dumps=_dumps)
        raise HandoffError(f"no low-confidence message {event_id}", 404)

    def low_confidence_items() -> list[dict[str, Any]]:
        labelled = {lab.event_id for lab in service.store.all_labels()}
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for s in service.store.all_sessions():
            if s.sender_id in seen or service.bot is None:
                continue
            seen.add(s.sender_id)
            for e in service.bot.transcript(s.sender_id):
                if e.get("type") != "user" or e["id"] in labelled:
                    continue
                it = (e.get("parse_data") or {}).get("intent") or {}
                conf = it.get("confidence")
                if isinstance(conf, (int, float)) and conf < LOW_CONFIDENCE:
                    out.append({"event_id": e["id"], "sender_id": s.sender_id, "text": e.get("text", ""),
                                "intent": it.get("name"), "confidence": round(float(conf), 3), "ts": e.get("ts")})
        return sorted(out, key=lambda x: x["confidence"])

    @route("GET", "/trainer/low-confidence", trainer_roles)
    async def low_confidence(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Customer messages the model was unsure about (below 0.6), not labelled yet."""
        return json_response([{k: v for k, v in i.items() if k != "sender_id"} for i in low_confidence_items()],
                             dumps=_dumps)

    @route("GET", "/trainer/intents", trainer_roles)
    async def hot_intents(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Intent counts of handed-off conversations this week and last week, hottest and fastest-growing."""
        now = time.time()
        week = 7 * 86400
        this: dict[str, int] = {}
        last: dict[str, int] = {}
        seen: set[str] = set()
        for s in service.store.all_sessions():
            if s.sender_id in seen or service.bot is None:
                continue
            seen.add(s.sender_id)
            for e in service.bot.transcript(s.sender_id):
                if e.get("type") != "user":
                    continue
                name = ((e.get("parse_data") or {}).get("intent") or {}).get("name")
                if not name:
                    continue
                age = now - float(e.get("ts") or now)
                bucket = this if age < week else last if age < 2 * week else None
                if bucket is not None:
                    bucket[name] = bucket.get(name, 0) + 1
        rows = [(k, v, last.get(k, 0)) for k, v in this.items()]
        hot = sorted(rows, key=lambda r: -r[1])[:10]
        growing = sorted(rows, key=lambda r: -(r[1] - r[2]))[:10]

        def view(r: tuple[str, int, int]) -> dict[str, Any]:
            return {"intent": r[0], "this_week": r[1], "last_week": r[2], "growth": r[1] - r[2]}

        return json_response({"hot": [view(r) for r in hot], "growing": [view(r) for r in growing]}, dumps=_dumps)

    @route("GET", "/trainer/review", trainer_roles)
    async def weekly_review(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """This week's dissatisfied cases: survey score ≤ 2 or "not solved", with the chat's intents."""
        now = time.time()
        out = []
        seen: set[str] = set()
        for s in service.store.all_sessions():
            if s.sender_id in seen or service.bot is None:
                continue
            seen.add(s.sender_id)
            events = service.bot.transcript(s.sender_id)
            for e in events:
                if e.get("type") != "survey" or now - float(e.get("ts") or now) > 7 * 86400:
                    continue
                score = e.get("score")
                if (isinstance(score, (int, float)) and score <= 2) or e.get("reason") == "not_solved":
                    intents = [((x.get("parse_data") or {}).get("intent") or {}).get("name")
                               for x in events if x.get("type") == "user"]
                    out.append({"chat_id": s.id, "customer_name": customer_names(s.sender_id, {})[0],
                                "score": score, "reason": e.get("reason"), "comment": e.get("comment"),
                                "intents": [i for i in intents if i], "ts": e.get("ts")})
        return json_response(out, dumps=_dumps)

    jobs = JobRunner()

    @route("POST", "/trainer/jobs", trainer_roles)
    async def start_job(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Start ``retrain`` (``bankbot train`` with accepted corrections) or ``compare`` in the background."""
        kind = body(request).get("kind")
        try:
            job_kind = JobKind(str(kind))
        except ValueError as exc:
            raise HandoffError("'kind' must be retrain or compare") from exc
        corrections = [{"text": lab.text, "intent": (r.intent if (r := service.store.label_reviews().get(lab.id))
                                                     else lab.intent)}
                       for lab in service.store.all_labels()
                       if (rv := service.store.label_reviews().get(lab.id)) is not None and rv.status != "rejected"]
        job = jobs.start(job_kind, corrections)
        return json_response(job.as_dict(), status=202, dumps=_dumps)

    @route("GET", "/trainer/jobs", trainer_roles)
    async def list_jobs(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        """Background jobs, newest first, with progress and (when done) the comparison report."""
        return json_response([j.as_dict() for j in jobs.all()], dumps=_dumps)

    @route("POST", "/trainer/jobs/<jid:int>/cancel", trainer_roles)
    async def cancel_job(request: Request, agent: dict[str, Any], jid: int) -> HTTPResponse:
        """Stop a running job."""
        job = jobs.get(jid)
        if job is None:
            raise HandoffError(f"no job {jid}", 404)
        jobs.cancel(jid)
        return json_response(job.as_dict(), dumps=_dumps)

    async def ws_agent(request: Request, ws: Websocket) -> dict[str, Any] | None:
        """Who is on this socket: the ``Authorization`` header, else a first ``{"type": "auth", "token": …}``
        frame within ``WS_AUTH_SECONDS``; anything else (a token in the URL above all) is refused."""
        if "token" in request.args:
            await ws.send(_dumps({"type": "error", "message": "send the agent token in a first "
                                  "{\"type\": \"auth\", \"token\": …} frame or the Authorization header, "
                                  "never in the URL"}))
            return None
        if request.headers.get("authorization"):
            return current_agent(request)
        try:
            raw = await asyncio.wait_for(ws.recv(), WS_AUTH_SECONDS)
            frame = json.loads(raw) if isinstance(raw, (str, bytes)) else None
        except (TimeoutError, ValueError, TypeError):
            frame = None
        if not isinstance(frame, dict) or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
            return None
        return agent_for(frame["token"][:200])

    @bp.websocket("/agent/ws")
    async def agent_ws(request: Request, ws: Websocket) -> None:
        agent = await ws_agent(request, ws)
        if agent is None:
            await ws.send(_dumps({"type": "error", "message": "missing or invalid agent token"}))
            await ws.close(code=4401, reason="unauthorized")
            return
        consoles.setdefault(agent["id"], set()).add(ws)
        service.connected(agent["id"])
        try:
            from .routing import can_serve

            await ws.send(_dumps({"type": "queue", "queue": [
                service.queue_item(c) for c in service.queue()
                if agent["role"] == "supervisor" or can_serve(agent, c["skill"])]}))
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except (TypeError, ValueError):
                    frame = {}
                if not isinstance(frame, dict):
                    continue
                service.heartbeat(agent["id"])
                if frame.get("type") == "ping":
                    await ws.send(_dumps({"type": "pong"}))
                elif frame.get("type") == "typing" and typing_relay is not None:
                    await typing_relay.from_agent(agent, frame.get("chat_id"))
        finally:
            consoles.get(agent["id"], set()).discard(ws)
            service.disconnected(agent["id"], bool(consoles.get(agent["id"])))

    @bp.get("/console")
    async def console(request: Request) -> HTTPResponse:
        csp = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
        return await file(CONSOLE / "console.html", mime_type="text/html; charset=utf-8",
                          headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"})

    if CONSOLE.is_dir():
        bp.static("/console/static", str(CONSOLE), name="console_static")
    return bp
