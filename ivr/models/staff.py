"""Staff: agents, supervisors and admins sign in to the desk and the console; technicians
work dispatched orders from a signed link on their phone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.models.base import Base, enum_column


class StaffRole(StrEnum):
    AGENT = "agent"  # 客服接待员: takes calls at the desk
    SUPERVISOR = "supervisor"  # 客服主管: the desk and the console
    ADMIN = "admin"  # everything a supervisor can, plus managing people
    TECHNICIAN = "technician"  # 维修人员: takes dispatched orders on a phone page, no sign-in


class Availability(StrEnum):
    """Whether the desk may ring this person now."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"


class User(Base):
    """A member of staff; `username` is stored case-folded, so it is unique ignoring case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    phone: Mapped[str] = mapped_column(String(20))  # E.164: the desk rings it to take a call
    # A technician's trades (repair categories: water, electric, ...): who dispatch offers first.
    trades: Mapped[list[str]] = mapped_column(JSON, default=list)
    availability: Mapped[Availability] = mapped_column(
        enum_column(Availability), default=Availability.AWAY
    )
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until
