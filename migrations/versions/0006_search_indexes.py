"""Trigram indexes for the console's searches on PostgreSQL: part of a number (its last
digits), part of a unit, and words in what callers said, agents' notes and transcriptions.

A B-tree cannot serve `LIKE '%…%'`; pg_trgm's GIN indexes can, for Chinese too. SQLite has
no such index and needs none at its sizes, so nothing happens there. The models do not
declare these indexes (they exist on one backend only); `ivr.store.db.in_models` keeps the
schema comparison from asking to drop them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = {
    "ix_calls_caller_number_trgm": ("calls", "caller_number"),
    "ix_calls_unit_trgm": ("calls", "unit"),
    "ix_calls_content_trgm": ("calls", "content"),
    "ix_wrap_ups_notes_trgm": ("wrap_ups", "notes"),
    "ix_tickets_transcription_trgm": ("tickets", "transcription"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
