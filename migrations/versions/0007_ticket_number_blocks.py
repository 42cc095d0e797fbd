"""Ticket numbers leased in blocks: each web process hands out a run of a day's numbers
from memory, so numbering needs neither Redis nor SQL while the caller waits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_number_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "first"),
    )


def downgrade() -> None:
    op.drop_table("ticket_number_blocks")
