"""Repair orders (报修单) and complaint tickets, with their deadlines and history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.models.base import Base, enum_column
from ivr.models.residents import Resident, Unit
from ivr.models.staff import User


class TicketKind(StrEnum):
    REPAIR = "repair"
    COMPLAINT = "complaint"


class TicketPriority(StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"


class TicketStatus(StrEnum):
    """Where an order stands. A repair: open, acknowledged, dispatched to a technician, on
    site, done, closed. A complaint: open, acknowledged, investigated, answered, closed.
    Either may be cancelled (with a reason) and reopened."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    INVESTIGATED = "investigated"
    DONE = "done"
    ANSWERED = "answered"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still owed work: on the desk's lists and the service-level sweep."""
        return self in OPEN_STATUSES

    @property
    def is_finished(self) -> bool:
        """The work is done (or the answer given): the return visit is what is left."""
        return self in {TicketStatus.DONE, TicketStatus.ANSWERED}


OPEN_STATUSES = frozenset(
    {
        TicketStatus.OPEN,
        TicketStatus.ACKNOWLEDGED,
        TicketStatus.DISPATCHED,
        TicketStatus.ON_SITE,
        TicketStatus.INVESTIGATED,
    }
)


class Ticket(Base):
    """A repair order or a complaint ticket, created by a call and followed to its close."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("number_year", "number"),
        # A call creates at most one ticket of each kind, however often its events replay.
        UniqueConstraint("call_sid", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16))
    number_year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[TicketKind] = mapped_column(enum_column(TicketKind))
    priority: Mapped[TicketPriority] = mapped_column(enum_column(TicketPriority))
    category: Mapped[str] = mapped_column(String(32))
    sla_tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[TicketStatus] = mapped_column(enum_column(TicketStatus), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    unit_text: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    description: Mapped[str] = mapped_column(Text, default="")
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(String(512))
    transcription: Mapped[str | None] = mapped_column(Text)
    appointment_slot: Mapped[str | None] = mapped_column(String(24))
    appointment_start: Mapped[datetime | None]
    appointment_end: Mapped[datetime | None]
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    dispatch_by: Mapped[datetime | None]
    on_site_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    return_visit_due: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=1)
    escalation_due: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    breach_warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    # The work order's own steps, stamped when they happen (R5's clocks run on these).
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    dispatched_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    investigated_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    work_note: Mapped[str] = mapped_column(Text, default="")
    materials: Mapped[str] = mapped_column(Text, default="")
    fee_fen: Mapped[int | None] = mapped_column(Integer)  # 有偿服务: the charge, in fen

    unit: Mapped[Unit | None] = relationship()
    resident: Mapped[Resident | None] = relationship()
    technician: Mapped[User | None] = relationship()
    log: Mapped[list[TicketLog]] = relationship(
        back_populates="ticket", order_by="[TicketLog.at, TicketLog.id]"
    )


class TicketLog(Base):
    """What happened to a ticket: created, escalated, notified, warned, closed."""

    __tablename__ = "ticket_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="log")


class TicketNumberBlock(Base):
    """A run of a day's ticket sequences leased to one process, which hands them out from
    memory: the number a caller hears needs no SQL and no Redis, and no two processes
    can ever hand out the same one."""

    __tablename__ = "ticket_number_blocks"
    __table_args__ = (UniqueConstraint("day", "first"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(8))  # YYYYMMDD, hotline time
    first: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(64))  # host:pid, for a person reading the table
    leased_at: Mapped[datetime]
