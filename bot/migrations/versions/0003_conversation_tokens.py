"""Conversation tokens: random, stored hashed, bound to the verified customer (issue 12).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``conversation_tokens`` where missing."""
    if "conversation_tokens" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "conversation_tokens",
            sa.Column("sender_id", sa.String(64), primary_key=True),
            sa.Column("token_hash", sa.String(64), nullable=False),
            sa.Column("customer_id", sa.String(64), nullable=True),
            sa.Column("created_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    """Drop ``conversation_tokens``."""
    op.drop_table("conversation_tokens")
