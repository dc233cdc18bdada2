"""Crash recovery (issue 12): client message ids on user events, agents' last heartbeat.

Revision ID: 0004
Revises: 0003

``events.message_id`` holds the id a client gave its message (retries with the same id are not stored
again); the unique index on ``(sender_id, message_id)`` is the lookup. ``ho_agents.last_seen`` is the
agent's last console heartbeat. Databases made by ``create_all`` may already have both; they are kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``events.message_id`` (+ unique index) and ``ho_agents.last_seen`` where missing."""
    insp = sa.inspect(op.get_bind())
    if "message_id" not in {c["name"] for c in insp.get_columns("events")}:
        op.add_column("events", sa.Column("message_id", sa.String(64), nullable=True))
    if "ix_events_sender_message" not in {i["name"] for i in insp.get_indexes("events")}:
        op.create_index("ix_events_sender_message", "events", ["sender_id", "message_id"], unique=True)
    if "last_seen" not in {c["name"] for c in insp.get_columns("ho_agents")}:
        op.add_column("ho_agents", sa.Column("last_seen", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop the index and both columns."""
    op.drop_index("ix_events_sender_message", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("message_id")
    with op.batch_alter_table("ho_agents") as batch:
        batch.drop_column("last_seen")
