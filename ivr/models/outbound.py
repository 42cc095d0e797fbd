"""What the hotline sends or promises: SMS messages and callback tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.models.base import Base, enum_column


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # handed to Twilio; if a worker dies here we never send again
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a worker died mid-send: a person checks, we do not risk a duplicate


class OutboundMessage(Base):
    """One SMS, at most once: the dedupe key names why it is sent (e.g. ticket:42:confirmation)."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    to_number: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus), index=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    UNREACHABLE = "unreachable"  # three attempts, no answer: supervisors see it
    CANCELLED = "cancelled"


class CallbackKind(StrEnum):
    RESIDENT = "resident"  # agent first, then bridged to the resident
    SURVEY = "survey"  # 回访: an automated satisfaction call after a ticket is closed
    ALERT = "alert"  # an on-duty engineer rung about an emergency order, one rung each


class Callback(Base):
    """A promise to call a resident back (R7), with the deadline that was promised."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    important: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[CallbackStatus] = mapped_column(enum_column(CallbackStatus), index=True)
    recording_url: Mapped[str | None] = mapped_column(String(512))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    kind: Mapped[CallbackKind] = mapped_column(
        enum_column(CallbackKind), default=CallbackKind.RESIDENT
    )
    queue: Mapped[str | None] = mapped_column(String(32))  # the purpose: repair, complaint, …
    keeps_place: Mapped[bool] = mapped_column(default=False)  # virtual hold: before new arrivals
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    transcription: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]

    attempt_log: Mapped[list[CallbackAttempt]] = relationship(
        back_populates="callback", order_by="CallbackAttempt.number"
    )


class AttemptStatus(StrEnum):
    DIALING_AGENT = "dialing_agent"
    AGENT_NO_ANSWER = "agent_no_answer"  # does not count against the resident's three tries
    DIALING_RESIDENT = "dialing_resident"
    CONNECTED = "connected"
    RESIDENT_NO_ANSWER = "resident_no_answer"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a worker died between claiming the attempt and placing the call


class CallbackAttempt(Base):
    """One try at a callback; its idempotency key is claimed before Twilio is asked to ring,
    so a worker that dies mid-attempt never rings the resident twice for the same try."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[AttemptStatus] = mapped_column(enum_column(AttemptStatus))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)  # the outbound leg
    resident_call_sid: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))

    callback: Mapped[Callback] = relationship(back_populates="attempt_log")
