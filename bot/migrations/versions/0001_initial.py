"""Initial schema: tracker store (conversations, events) and handoff tables (ho_*).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table as the stores defined them before migrations existed."""
    op.create_table(
        "conversations",
        sa.Column("sender_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(64), sa.ForeignKey("conversations.sender_id"), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_events_sender_id", "events", ["sender_id"])
    op.create_index("ix_events_type", "events", ["type"])
    op.create_table(
        "ho_agents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("skills", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("last_assigned_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ho_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ho_tokens_agent_id", "ho_tokens", ["agent_id"])
    op.create_table(
        "ho_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("skill", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("assigned_at", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("requeued", sa.Boolean, nullable=False),
        sa.Column("unread", sa.Integer, nullable=False),
        sa.Column("disposition", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("context", sa.Text, nullable=False),
    )
    for col in ("sender_id", "status", "agent_id"):
        op.create_index(f"ix_ho_sessions_{col}", "ho_sessions", [col])
    op.create_table(
        "ho_phrases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.Integer, nullable=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_ho_phrases_owner_id", "ho_phrases", ["owner_id"])
    op.create_table(
        "ho_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float, nullable=True),
    )
    op.create_index("ix_ho_tickets_sender_id", "ho_tickets", ["sender_id"])
    op.create_table(
        "ho_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("predicted_intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ho_labels_event_id", "ho_labels", ["event_id"])


def downgrade() -> None:
    """Drop every table."""
    for name in ("ho_labels", "ho_tickets", "ho_phrases", "ho_sessions", "ho_tokens", "ho_agents", "events",
                 "conversations"):
        op.drop_table(name)
