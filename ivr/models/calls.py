"""The call log (客户来电来访登记表) as SQLAlchemy 2 models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.core.terms import CallCategory, CallOutcome
from ivr.models.base import Base, enum_column

__all__ = ["CallCategory", "CallOutcome"]  # defined with their words in ivr.core.terms


class CallStatus(StrEnum):
    """Twilio's call statuses, as Twilio spells them."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self not in {CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS}


class Call(Base):
    """One row of the call register: who called, about what, and how it ended."""

    __tablename__ = "calls"
    # The call log lists newest first, paged by (started_at, id): one index walks it in order.
    __table_args__ = (Index("ix_calls_started_at_id", "started_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    caller_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    called_number: Mapped[str] = mapped_column(String(32), default="")
    caller_name: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(64), index=True)
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    category: Mapped[CallCategory | None] = mapped_column(enum_column(CallCategory), index=True)
    content: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[CallOutcome | None] = mapped_column(enum_column(CallOutcome), index=True)
    handler: Mapped[str | None] = mapped_column(String(64))
    follow_up: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CallStatus] = mapped_column(
        enum_column(CallStatus), default=CallStatus.IN_PROGRESS
    )
    duration_s: Mapped[int | None]
    queue: Mapped[str | None] = mapped_column(String(32))
    recording_url: Mapped[str | None] = mapped_column(String(512))
    greeting_ms: Mapped[float | None]
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    satisfaction: Mapped[int | None]  # R9: 1 satisfied, 2 average, 3 dissatisfied
    direction: Mapped[str] = mapped_column(String(16), default="inbound")  # or "outbound"
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    events: Mapped[list[CallEventRow]] = relationship(
        back_populates="call", order_by="[CallEventRow.at, CallEventRow.seq, CallEventRow.id]"
    )


class Disposition(StrEnum):
    """How an agent closed a call they took (the desk's wrap-up form)."""

    RESOLVED = "resolved"
    REPAIR_ORDER = "repair_order"
    COMPLAINT = "complaint"
    CALLBACK_NEEDED = "callback_needed"
    MESSAGE_ONLY = "message_only"


class WrapUp(Base):
    """An agent's note on a call they took: one per call and agent, updated in place."""

    __tablename__ = "wrap_ups"
    __table_args__ = (UniqueConstraint("call_sid", "agent_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    disposition: Mapped[Disposition] = mapped_column(enum_column(Disposition))
    notes: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CallEventRow(Base):
    """One thing that happened on a call, written once whatever the replays."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    call_sid: Mapped[str] = mapped_column(
        ForeignKey("calls.call_sid", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    node: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")
