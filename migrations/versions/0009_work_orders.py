"""Work orders through their life: the technician an order is dispatched to, each step's
time (dispatched, on site, investigated, cancelled), what the visit did and charged, and
the technicians' trades. Statuses get the names of the new steps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RENAMED = {"in_progress": "on_site", "resolved": "done"}


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("technician_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("on_site_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("investigated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("work_note", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("materials", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("fee_fen", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tickets_technician_id"), ["technician_id"])
        batch_op.create_foreign_key(
            "fk_tickets_technician_id_users",
            "users",
            ["technician_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trades", sa.JSON(), nullable=False, server_default="[]"))
    tickets = sa.table("tickets", sa.column("status", sa.String), sa.column("kind", sa.String))
    op.execute(tickets.update().where(tickets.c.status == "in_progress").values(status="on_site"))
    # A resolved complaint was answered; a resolved repair is done.
    op.execute(
        tickets.update()
        .where(tickets.c.status == "resolved", tickets.c.kind == "complaint")
        .values(status="answered")
    )
    op.execute(tickets.update().where(tickets.c.status == "resolved").values(status="done"))


def downgrade() -> None:
    tickets = sa.table("tickets", sa.column("status", sa.String))
    for old, new in RENAMED.items():
        op.execute(tickets.update().where(tickets.c.status == new).values(status=old))
    op.execute(tickets.update().where(tickets.c.status == "answered").values(status="resolved"))
    op.execute(
        tickets.update()
        .where(tickets.c.status.in_(["acknowledged", "investigated"]))
        .values(status="open")
    )
    op.execute(tickets.update().where(tickets.c.status == "cancelled").values(status="closed"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("trades")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tickets_technician_id_users", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tickets_technician_id"))
        for column in (
            "fee_fen",
            "materials",
            "work_note",
            "cancelled_at",
            "investigated_at",
            "on_site_at",
            "dispatched_at",
            "technician_id",
        ):
            batch_op.drop_column(column)
