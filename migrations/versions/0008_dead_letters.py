"""Dead letters: call-log events that could not be stored, kept with the reason.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("error_class", sa.String(length=128), nullable=False),
        sa.Column("error_message", sa.String(length=500), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_resolved"), ["resolved"], unique=False)
        batch_op.create_index("ix_dead_letters_parked_at_id", ["parked_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_parked_at_id")
        batch_op.drop_index(batch_op.f("ix_dead_letters_resolved"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_call_sid"))

    op.drop_table("dead_letters")
