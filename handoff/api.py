"""HTTP + websocket API of the agent workspace (docs/handoff.md) and the console page."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request, Websocket
from sanic.response import HTTPResponse, file
from sanic.response import json as json_response

from bot.inputs import MAX_ID, BadInput, check_text, parse_json_body
from bot.ratelimit import LoginGuard, RateLimited, RateLimiter

from .queue import HandoffError, HandoffService
from .store import agent_dict

CONSOLE = Path(__file__).resolve().parent / "console" / "static"
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
                     login_guard: LoginGuard | None = None, login_limit: RateLimiter | None = None) -> Blueprint:
    """Routes of the handoff service; ``guides()`` lists the guides agents may send.

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

    def current_agent(request: Request) -> dict[str, Any] | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.args.get("token", "")
        row = service.store.agent_for_token(token)
        return agent_dict(row) if row is not None else None

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
        open_app = "Open in app" if lang == "en" else "在App中打开"
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

    @route("GET", "/agent/phrases")
    async def phrases(request: Request, agent: dict[str, Any]) -> HTTPResponse:
        query = check_text(request.args.get("q", ""), "q", 200, allow_empty=True)
        return json_response(service.store.phrases_for(agent["id"], query), dumps=_dumps)

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

    @bp.websocket("/agent/ws")
    async def agent_ws(request: Request, ws: Websocket) -> None:
        agent = current_agent(request)
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
                if isinstance(frame, dict) and frame.get("type") == "ping":
                    await ws.send(_dumps({"type": "pong"}))
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
