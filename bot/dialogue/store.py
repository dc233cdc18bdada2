"""Tracker store: every conversation event persisted through SQLAlchemy (SQLite by default).

Two tables: ``conversations`` (one row per sender: channel, timestamps and the dialogue state as
JSON) and ``events`` (append-only: user messages with their parse result, bot messages, actions,
slot changes, handoffs, surveys). A turn's events and the new state are written in one transaction
*before* the reply is sent, so a restart loses nothing. PostgreSQL works by changing the URL.
Texts are stored masked (card/account/phone/ID numbers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
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
from sqlalchemy.engine import Engine

metadata = MetaData()

conversations = Table(
    "conversations", metadata,
    Column("sender_id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False, default="rest"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("state", Text, nullable=False, default="{}"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(64), ForeignKey("conversations.sender_id"), index=True, nullable=False),
    Column("ts", Float, nullable=False),
    Column("type", String(32), nullable=False, index=True),
    Column("data", Text, nullable=False),
    #: the id the client gave its message (user events only): a retry with the same id is not stored again
    Column("message_id", String(64), nullable=True),
    Index("ix_events_sender_message", "sender_id", "message_id", unique=True),
)


@dataclass
class Conversation:
    """A conversation's state as loaded from the store."""

    sender_id: str
    channel: str = "rest"
    state: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    is_new: bool = True


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class TrackerStore:
    """Persistence of conversations and their events."""

    def __init__(self, database: str | Engine) -> None:
        """Use an engine, or connect to a URL (see :func:`bot.db.make_engine`); creates the tables."""
        from ..db import make_engine

        self.engine: Engine = make_engine(database) if isinstance(database, str) else database
        metadata.create_all(self.engine)

    def load(self, sender_id: str, channel: str = "rest") -> Conversation:
        """The conversation of ``sender_id`` (a new, unsaved one if unknown)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(conversations).where(conversations.c.sender_id == sender_id)).first()
        if row is None:
            return Conversation(sender_id, channel, {}, time.time(), True)
        return Conversation(row.sender_id, row.channel, json.loads(row.state), row.created_at, False)

    def save_turn(self, conv: Conversation, new_events: Iterable[tuple[str, dict[str, Any]]],
                  message_id: str | None = None) -> list[int]:
        """Append events and write the state in one transaction; returns the new event ids.

        ``message_id`` (the client's id of the user message) is stored with the first ``user`` event.
        """
        now = time.time()
        ids: list[int] = []
        with self.engine.begin() as conn:
            if conv.is_new:
                conn.execute(insert(conversations).values(sender_id=conv.sender_id, channel=conv.channel,
                                                          created_at=conv.created_at or now, updated_at=now,
                                                          state=_json(conv.state)))
                conv.is_new = False
            else:
                conn.execute(update(conversations).where(conversations.c.sender_id == conv.sender_id)
                             .values(updated_at=now, state=_json(conv.state)))
            for etype, data in new_events:
                mid = None
                if etype == "user" and message_id is not None:
                    mid, message_id = message_id, None
                res = conn.execute(insert(events).values(sender_id=conv.sender_id, ts=now, type=etype,
                                                         data=_json(data), message_id=mid))
                key = res.inserted_primary_key
                ids.append(int(key[0]) if key else 0)
        return ids

    def find_message(self, sender_id: str, message_id: str) -> int | None:
        """The event id of the user message the client sent with ``message_id`` (None: not stored yet)."""
        q = select(events.c.id).where(events.c.sender_id == sender_id, events.c.message_id == message_id)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def replies_after(self, sender_id: str, event_id: int) -> list[dict[str, Any]]:
        """The bot/agent messages stored after user event ``event_id``, up to the customer's next message."""
        out: list[dict[str, Any]] = []
        for e in self.events(sender_id, types=["user", "bot", "agent"], after_id=event_id):
            if e["type"] == "user":
                break
            out.append(e)
        return out

    def unanswered(self, since: float) -> list[str]:
        """Conversations updated after ``since`` whose newest message (user/bot/agent) is the customer's."""
        last = (select(events.c.sender_id, func.max(events.c.id).label("last_id"))
                .where(events.c.type.in_(["user", "bot", "agent"]), events.c.ts >= since)
                .group_by(events.c.sender_id).subquery())
        q = (select(events.c.sender_id).join(last, events.c.id == last.c.last_id)
             .where(events.c.type == "user").order_by(events.c.id))
        with self.engine.connect() as conn:
            return [r.sender_id for r in conn.execute(q)]

    def events(self, sender_id: str, types: Iterable[str] | None = None, after_id: int = 0) -> list[dict[str, Any]]:
        """Events of one conversation in order (optionally only some types, or after an id)."""
        q = select(events).where(events.c.sender_id == sender_id, events.c.id > after_id).order_by(events.c.id)
        if types:
            q = q.where(events.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [{**json.loads(r.data), "id": r.id, "ts": r.ts, "type": r.type,
                 **({"message_id": r.message_id} if r.message_id else {})} for r in rows]
