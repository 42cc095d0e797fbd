"""What the hotline sends or promises: SMS messages and callback tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


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
