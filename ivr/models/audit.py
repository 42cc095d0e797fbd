"""The audit log (R3): who opened a caller's full details, exported the call log, or purged it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.models.base import Base, enum_column


class AuditAction(StrEnum):
    VIEW_CALL = "view_call"  # the call detail page, with the caller's full number
    EXPORT_CALLS = "export_calls"  # a CSV of the call log (masked numbers)
    RETENTION_PURGE = "retention_purge"  # personal data past the retention period removed
    RESOLVE_DEAD_LETTER = "resolve_dead_letter"  # someone dealt with an event the log refused


class AuditEntry(Base):
    """One audited action. The username is kept as written, so the entry still says who
    it was after the account is removed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction))
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(String(200), default="")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
