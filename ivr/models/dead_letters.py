"""Call-log events that could not be stored, kept aside so the rest of their call is not lost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.models.base import Base


class DeadLetter(Base):
    """One event the call log refused, as it arrived, with why. `event_key` is the event's
    dedupe key, so a job run again parks it once; `resolved` is set once someone has dealt
    with it."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_parked_at_id", "parked_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    parked_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str] = mapped_column(String(64), index=True, default="")
    event: Mapped[str] = mapped_column(Text)  # the event's JSON, NULs and controls escaped
    error_class: Mapped[str] = mapped_column(String(128))
    error_message: Mapped[str] = mapped_column(String(500), default="")
    resolved: Mapped[bool] = mapped_column(default=False, index=True)
