"""Agent notes and tags of chats, trainers' reviews of agents' intent labels.

Revision ID: 0002
Revises: 0001

Databases made by ``create_all`` before migrations may already hold these tables; they are kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ho_label_reviews``, ``ho_notes`` and ``ho_tags`` where missing."""
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "ho_label_reviews" not in have:
        op.create_table(
            "ho_label_reviews",
            sa.Column("label_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("intent", sa.String(64), nullable=False),
            sa.Column("trainer_id", sa.Integer, nullable=False),
            sa.Column("reviewed_at", sa.Float, nullable=False),
        )
    if "ho_notes" not in have:
        op.create_table(
            "ho_notes",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("session_id", sa.Integer, nullable=False),
            sa.Column("sender_id", sa.String(64), nullable=False),
            sa.Column("agent_id", sa.Integer, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
        op.create_index("ix_ho_notes_sender_id", "ho_notes", ["sender_id"])
        op.create_index("ix_ho_notes_session_id", "ho_notes", ["session_id"])
    if "ho_tags" not in have:
        op.create_table(
            "ho_tags",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("session_id", sa.Integer, nullable=False),
            sa.Column("sender_id", sa.String(64), nullable=False),
            sa.Column("tag", sa.String(32), nullable=False),
            sa.Column("agent_id", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
        op.create_index("ix_ho_tags_sender_id", "ho_tags", ["sender_id"])
        op.create_index("ix_ho_tags_session_id", "ho_tags", ["session_id"])


def downgrade() -> None:
    """Drop the three tables."""
    for name in ("ho_tags", "ho_notes", "ho_label_reviews"):
        op.drop_table(name)
