"""Persistence of the human side: agents, login tokens, handoff sessions, phrases, tickets, labels.

Same database as the bot's tracker store (SQLite by default), own tables (prefix ``ho_``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, Row

from bot.nlu.entities import mask_sensitive

metadata = MetaData()

agents = Table(
    "ho_agents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), unique=True, nullable=False),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("skills", Text, nullable=False, default="[]"),
    Column("capacity", Integer, nullable=False, default=5),
    Column("status", String(16), nullable=False, default="offline"),
    Column("password_hash", String(200), nullable=False),
    Column("last_assigned_at", Float, nullable=False, default=0.0),
    #: the agent's last console heartbeat (connect, frames, the periodic beat); None: never connected
    Column("last_seen", Float, nullable=True),
)

tokens = Table(
    "ho_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", Integer, nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
)

sessions = Table(
    "ho_sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),  # queued | assigned | closed | returned
    Column("skill", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("agent_id", Integer, nullable=True, index=True),
    Column("created_at", Float, nullable=False),
    Column("queued_at", Float, nullable=False),
    Column("assigned_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("requeued", Boolean, nullable=False, default=False),
    Column("unread", Integer, nullable=False, default=0),
    Column("disposition", String(32), nullable=True),
    Column("note", Text, nullable=True),
    Column("context", Text, nullable=False),
)

phrases = Table(
    "ho_phrases", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", Integer, nullable=True, index=True),  # NULL: shared
    Column("code", String(32), nullable=False),
    Column("text", Text, nullable=False),
)

tickets = Table(
    "ho_tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(64), nullable=False, index=True),
    Column("session_id", Integer, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("due_at", Float, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_by", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("done_at", Float, nullable=True),
)

labels = Table(
    "ho_labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, nullable=False, index=True),
    Column("sender_id", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("predicted_intent", String(64), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("intent", String(64), nullable=False),
    Column("agent_id", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

notes = Table(
    "ho_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, nullable=False, index=True),
    Column("sender_id", String(64), nullable=False, index=True),
    Column("agent_id", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

tags = Table(
    "ho_tags", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, nullable=False, index=True),
    Column("sender_id", String(64), nullable=False, index=True),
    Column("tag", String(32), nullable=False),
    Column("agent_id", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

label_reviews = Table(
    "ho_label_reviews", metadata,
    Column("label_id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # accepted | relabeled | rejected
    Column("intent", String(64), nullable=False),
    Column("trainer_id", Integer, nullable=False),
    Column("reviewed_at", Float, nullable=False),
)

PBKDF2_ROUNDS = 120_000
TOKEN_TTL = 12 * 3600


def hash_password(password: str, salt: str | None = None) -> str:
    """``pbkdf2_sha256$rounds$salt$hash``."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS).hex()
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt}${digest}"


#: checked against when the username is unknown, so that the answer takes as long as for a real one
_DUMMY_HASH = f"pbkdf2_sha256${PBKDF2_ROUNDS}$00000000$" + "0" * 64


def check_password(password: str, stored: str) -> bool:
    """Constant-time check against :func:`hash_password` output."""
    try:
        _, rounds, salt, digest = stored.split("$")
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds)).hex()
    return hmac.compare_digest(got, digest)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_dict(row: Row) -> dict[str, Any]:
    """Public view of an agent row (no password hash)."""
    return {"id": row.id, "username": row.username, "name": row.name, "role": row.role,
            "skills": json.loads(row.skills), "capacity": row.capacity, "status": row.status,
            "last_seen": row.last_seen}


def session_dict(row: Row) -> dict[str, Any]:
    """A handoff session row as a dict (context parsed)."""
    now = time.time()
    return {"id": row.id, "sender_id": row.sender_id, "status": row.status, "skill": row.skill,
            "priority": row.priority, "reason": row.reason, "agent_id": row.agent_id,
            "created_at": row.created_at, "queued_at": row.queued_at, "assigned_at": row.assigned_at,
            "closed_at": row.closed_at, "requeued": bool(row.requeued), "unread": row.unread,
            "disposition": row.disposition, "note": row.note,
            "wait_seconds": round((row.assigned_at or now) - row.created_at, 1),
            "context": json.loads(row.context)}


class HandoffStore:
    """Tables of the handoff service."""

    def __init__(self, engine: Engine) -> None:
        """Use the engine the bot's tracker store uses (same database) and create the ``ho_*`` tables."""
        self.engine = engine
        metadata.create_all(self.engine)

    # ------------------------------------------------------------------ agents
    def add_agent(self, username: str, name: str, role: str, password: str, skills: list[str],
                  capacity: int = 5) -> int:
        """Create an agent; returns its id."""
        if role not in ("agent", "supervisor", "trainer"):
            raise ValueError("role must be agent, supervisor or trainer")
        with self.engine.begin() as conn:
            res = conn.execute(insert(agents).values(username=username, name=name, role=role,
                                                     skills=json.dumps(skills), capacity=capacity, status="offline",
                                                     password_hash=hash_password(password), last_assigned_at=0.0))
            key = res.inserted_primary_key
            return int(key[0]) if key else 0

    def agent_count(self) -> int:
        """Number of agents."""
        with self.engine.connect() as conn:
            return len(conn.execute(select(agents.c.id)).all())

    def agent(self, agent_id: int) -> Row | None:
        """One agent row."""
        with self.engine.connect() as conn:
            return conn.execute(select(agents).where(agents.c.id == agent_id)).first()

    def all_agents(self) -> list[Row]:
        """Every agent."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(agents).order_by(agents.c.id)).all())

    def set_agent(self, agent_id: int, **values: Any) -> None:
        """Update agent columns."""
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.id == agent_id).values(**values))

    def lock_agent(self, agent_id: int) -> None:
        """Replace the agent's password with an unknown random one and end all its sessions."""
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.id == agent_id)
                         .values(password_hash=hash_password(secrets.token_urlsafe(32))))
            conn.execute(tokens.delete().where(tokens.c.agent_id == agent_id))

    def heartbeat(self, agent_id: int, now: float | None = None) -> None:
        """Record that a console of the agent is alive (``last_seen``)."""
        self.set_agent(agent_id, last_seen=time.time() if now is None else now)

    def login(self, username: str, password: str) -> tuple[str, Row] | None:
        """A new token for valid credentials."""
        with self.engine.connect() as conn:
            row = conn.execute(select(agents).where(agents.c.username == username)).first()
        # unknown users cost one PBKDF2 run too: the answer time does not tell which usernames exist
        ok = check_password(password, row.password_hash if row is not None else _DUMMY_HASH)
        if row is None or not ok:
            return None
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(tokens).values(token_hash=_token_hash(token), agent_id=row.id,
                                               expires_at=time.time() + TOKEN_TTL))
        return token, row

    def revoke(self, token: str) -> None:
        """Log a token out."""
        with self.engine.begin() as conn:
            conn.execute(tokens.delete().where(tokens.c.token_hash == _token_hash(token)))

    def agent_for_token(self, token: str) -> Row | None:
        """The agent a (valid, unexpired) token belongs to."""
        if not token:
            return None
        with self.engine.connect() as conn:
            t = conn.execute(select(tokens).where(tokens.c.token_hash == _token_hash(token))).first()
            if t is None or t.expires_at < time.time():
                return None
            return conn.execute(select(agents).where(agents.c.id == t.agent_id)).first()

    # ------------------------------------------------------------------ sessions
    def create_session(self, sender_id: str, skill: str, priority: str, reason: str, context: dict[str, Any]) -> int:
        """A new queued session."""
        now = time.time()
        with self.engine.begin() as conn:
            res = conn.execute(insert(sessions).values(
                sender_id=sender_id, status="queued", skill=skill, priority=priority, reason=reason, agent_id=None,
                created_at=now, queued_at=now, requeued=False, unread=0,
                context=json.dumps(context, ensure_ascii=False)))
            key = res.inserted_primary_key
            return int(key[0]) if key else 0

    def session(self, session_id: int) -> Row | None:
        """One session row."""
        with self.engine.connect() as conn:
            return conn.execute(select(sessions).where(sessions.c.id == session_id)).first()

    def open_session_for(self, sender_id: str) -> Row | None:
        """The queued/assigned session of a customer, if any."""
        with self.engine.connect() as conn:
            return conn.execute(select(sessions).where(sessions.c.sender_id == sender_id,
                                                       sessions.c.status.in_(["queued", "assigned"]))
                                .order_by(sessions.c.id.desc())).first()

    def sessions_with(self, status: str, agent_id: int | None = None) -> list[Row]:
        """Sessions in a status (optionally of one agent), oldest first."""
        q = select(sessions).where(sessions.c.status == status)
        if agent_id is not None:
            q = q.where(sessions.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(sessions.c.id)).all())

    def all_sessions(self) -> list[Row]:
        """Every session."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(sessions).order_by(sessions.c.id)).all())

    def set_session(self, session_id: int, **values: Any) -> None:
        """Update session columns."""
        if isinstance(values.get("note"), str):
            values["note"] = mask_sensitive(values["note"])
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == session_id).values(**values))

    def assign(self, session_id: int, agent_id: int, capacity: int, now: float,
               from_agent: int | None = None) -> bool:
        """Give a chat to an agent atomically, across processes; False if it is no longer possible.

        The chat must still be waiting (or, with ``from_agent``, still be that agent's: a transfer), and the
        agent must have fewer than ``capacity`` assigned chats. On PostgreSQL the agent's row is locked
        (``SELECT … FOR UPDATE``) so that concurrent assignments to one agent are serialised; the chat itself is
        taken with a conditional ``UPDATE … WHERE status = 'queued'``, so one chat gets one agent. SQLite runs
        the single statement under its database write lock.
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(agents.c.id).where(agents.c.id == agent_id).with_for_update())
            load = (select(func.count()).select_from(sessions)
                    .where(sessions.c.agent_id == agent_id, sessions.c.status == "assigned").scalar_subquery())
            cond = [sessions.c.id == session_id, load < capacity]
            if from_agent is None:
                cond.append(sessions.c.status == "queued")
                values: dict[str, Any] = {"requeued": False}
            else:
                cond += [sessions.c.status == "assigned", sessions.c.agent_id == from_agent]
                values = {"unread": 0}
            res = conn.execute(update(sessions).where(*cond).values(status="assigned", agent_id=agent_id,
                                                                     assigned_at=now, **values))
            if res.rowcount != 1:
                return False
            conn.execute(update(agents).where(agents.c.id == agent_id).values(last_assigned_at=now))
            return True

    def bump_unread(self, session_id: int) -> None:
        """One more unread customer message."""
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == session_id).values(unread=sessions.c.unread + 1))

    # ------------------------------------------------------------------ phrases, tickets, labels
    def seed_phrases(self, items: list[dict[str, str]]) -> None:
        """Insert the shared phrases whose code is not in the database yet (edits made there are kept)."""
        with self.engine.begin() as conn:
            have = {r.code for r in conn.execute(select(phrases.c.code).where(phrases.c.owner_id.is_(None))).all()}
            for p in items:
                if p["code"] not in have:
                    conn.execute(insert(phrases).values(owner_id=None, code=p["code"], text=p["text"]))

    def phrases_for(self, agent_id: int, query: str = "") -> list[dict[str, Any]]:
        """Shared phrases and the agent's own, filtered by ``query`` (code or text)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(phrases).where((phrases.c.owner_id.is_(None)) | (phrases.c.owner_id == agent_id))
                                .order_by(phrases.c.code)).all()
        q = query.strip().lower()
        return [{"id": r.id, "code": r.code, "text": r.text, "shared": r.owner_id is None} for r in rows
                if not q or q in r.code.lower() or q in r.text.lower()]

    def add_phrase(self, owner_id: int | None, code: str, text: str) -> int:
        """A new phrase (shared when ``owner_id`` is None)."""
        with self.engine.begin() as conn:
            key = conn.execute(insert(phrases).values(owner_id=owner_id, code=code, text=mask_sensitive(text))
                               ).inserted_primary_key
            return int(key[0]) if key else 0

    def add_ticket(self, sender_id: str, session_id: int | None, kind: str, due_at: float | None, note: str,
                   created_by: int | None) -> int:
        """A follow-up ticket."""
        with self.engine.begin() as conn:
            key = conn.execute(insert(tickets).values(sender_id=sender_id, session_id=session_id, kind=kind,
                                                      due_at=due_at, note=mask_sensitive(note), status="open",
                                                      created_by=created_by, created_at=time.time())
                               ).inserted_primary_key
            return int(key[0]) if key else 0

    def ticket(self, ticket_id: int) -> Row | None:
        """One ticket."""
        with self.engine.connect() as conn:
            return conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()

    def set_ticket(self, ticket_id: int, **values: Any) -> None:
        """Update a ticket."""
        with self.engine.begin() as conn:
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))

    def all_tickets(self) -> list[Row]:
        """Every ticket."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(tickets).order_by(tickets.c.id)).all())

    def add_label(self, event_id: int, sender_id: str, text: str, predicted: str | None, confidence: float | None,
                  intent: str, agent_id: int) -> int:
        """An agent's intent correction of a customer message."""
        with self.engine.begin() as conn:
            key = conn.execute(insert(labels).values(event_id=event_id, sender_id=sender_id, text=mask_sensitive(text),
                                                     predicted_intent=predicted, confidence=confidence, intent=intent,
                                                     agent_id=agent_id, created_at=time.time())).inserted_primary_key
            return int(key[0]) if key else 0

    def all_labels(self) -> list[Row]:
        """Every intent correction."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(labels).order_by(labels.c.id)).all())

    # ------------------------------------------------------------------ notes, tags, reviews
    def add_note(self, session_id: int, sender_id: str, agent_id: int, text: str) -> int:
        """A private note on a chat (agents only; never sent to the customer)."""
        with self.engine.begin() as conn:
            key = conn.execute(insert(notes).values(session_id=session_id, sender_id=sender_id, agent_id=agent_id,
                                                    text=text, created_at=time.time())).inserted_primary_key
            return int(key[0]) if key else 0

    def notes_for(self, sender_id: str) -> list[Row]:
        """Every note about a customer, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(notes).where(notes.c.sender_id == sender_id).order_by(notes.c.id)).all())

    def add_tag(self, session_id: int, sender_id: str, tag: str, agent_id: int) -> None:
        """Label a chat (idempotent)."""
        with self.engine.begin() as conn:
            if conn.execute(select(tags.c.id).where(tags.c.session_id == session_id, tags.c.tag == tag)).first():
                return
            conn.execute(insert(tags).values(session_id=session_id, sender_id=sender_id, tag=tag, agent_id=agent_id,
                                             created_at=time.time()))

    def remove_tag(self, session_id: int, tag: str) -> None:
        """Take a label off a chat."""
        with self.engine.begin() as conn:
            conn.execute(tags.delete().where(tags.c.session_id == session_id, tags.c.tag == tag))

    def tags_for(self, session_id: int) -> list[str]:
        """A chat's labels in the order they were added."""
        with self.engine.connect() as conn:
            return [r.tag for r in conn.execute(select(tags).where(tags.c.session_id == session_id)
                                                .order_by(tags.c.id)).all()]

    def review_label(self, label_id: int, status: str, intent: str, trainer_id: int) -> None:
        """A trainer's decision on an agent's correction (last decision wins)."""
        with self.engine.begin() as conn:
            conn.execute(label_reviews.delete().where(label_reviews.c.label_id == label_id))
            conn.execute(insert(label_reviews).values(label_id=label_id, status=status, intent=intent,
                                                      trainer_id=trainer_id, reviewed_at=time.time()))

    def label_reviews(self) -> dict[int, Row]:
        """Trainer decisions by label id."""
        with self.engine.connect() as conn:
            return {r.label_id: r for r in conn.execute(select(label_reviews)).all()}
