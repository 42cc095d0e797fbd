"""Callbacks with owners and attempts, the desk's wrap-ups, and calls' direction and agent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "dialing_agent",
                "agent_no_answer",
                "dialing_resident",
                "connected",
                "resident_no_answer",
                "failed",
                "unknown",
                name="attemptstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("resident_call_sid", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callback_attempts_call_sid"), ["call_sid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callback_attempts_callback_id"), ["callback_id"], unique=False
        )

    op.create_table(
        "wrap_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "disposition",
            sa.Enum(
                "resolved",
                "repair_order",
                "complaint",
                "callback_needed",
                "message_only",
                name="disposition",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid", "agent_id"),
    )
    with op.batch_alter_table("wrap_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wrap_ups_call_sid"), ["call_sid"], unique=False)

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum("resident", "survey", name="callbackkind", native_enum=False, length=24),
                nullable=False,
                server_default="resident",
            )
        )
        batch_op.add_column(sa.Column("queue", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("keeps_place", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="zh-CN")
        )
        batch_op.add_column(sa.Column("transcription", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ticket_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_callbacks_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_callbacks_owner_id_users", "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            "fk_callbacks_ticket_id_tickets", "tickets", ["ticket_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=16), nullable=False, server_default="inbound")
        )
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_calls_agent_id_users", "users", ["agent_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint("fk_calls_agent_id_users", type_="foreignkey")
        batch_op.drop_column("agent_id")
        batch_op.drop_column("direction")

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_callbacks_ticket_id_tickets", type_="foreignkey")
        batch_op.drop_constraint("fk_callbacks_owner_id_users", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_callbacks_next_attempt_at"))
        batch_op.drop_column("completed_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("owner_id")
        batch_op.drop_column("ticket_id")
        batch_op.drop_column("transcription")
        batch_op.drop_column("locale")
        batch_op.drop_column("keeps_place")
        batch_op.drop_column("queue")
        batch_op.drop_column("kind")

    with op.batch_alter_table("wrap_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wrap_ups_call_sid"))

    op.drop_table("wrap_ups")
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_attempts_callback_id"))
        batch_op.drop_index(batch_op.f("ix_callback_attempts_call_sid"))

    op.drop_table("callback_attempts")
