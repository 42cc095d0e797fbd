"""The period a report covers: a day, a week or a month in the hotline's time zone, or
any span, as UTC bounds for the queries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_


@dataclass(frozen=True)
class Period:
    """From `start` (inclusive) to `end` (exclusive), both midnights in the hotline's zone."""

    start: datetime
    end: datetime

    @classmethod
    def month(cls, year: int, month: int, tz: tzinfo) -> Period:
        following = (year + month // 12, month % 12 + 1)
        return cls(datetime(year, month, 1, tzinfo=tz), datetime(*following, 1, tzinfo=tz))

    @classmethod
    def between(cls, first: date, last: date, tz: tzinfo) -> Period:
        """The days from `first` to `last`, both included."""
        if last < first:
            raise ValueError(f"the period ends ({last}) before it starts ({first})")
        return cls(_midnight(first, tz), _midnight(last + timedelta(days=1), tz))

    @classmethod
    def parse_month(cls, text: str, tz: tzinfo) -> Period:
        """`2026-11` -> that month; ValueError for anything else."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise ValueError(f"{text!r} is not a month like 2026-11")
        return cls.month(int(match[1]), int(match[2]), tz)

    @property
    def tz(self) -> tzinfo:
        return self.start.tzinfo or UTC

    @property
    def is_month(self) -> bool:
        return self.start.day == 1 and self == Period.month(
            self.start.year, self.start.month, self.tz
        )

    @property
    def label(self) -> str:
        if self.is_month:
            return f"{self.start:%Y-%m}"
        return f"{self.start:%Y-%m-%d} – {self.days[-1]:%Y-%m-%d}"

    @property
    def days(self) -> list[date]:
        first, count = self.start.date(), (self.end.date() - self.start.date()).days
        return [first + timedelta(days=n) for n in range(count)]

    @property
    def utc_start(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def utc_end(self) -> datetime:
        return self.end.astimezone(UTC)

    def previous(self) -> Period:
        """The month before a month; otherwise as many days just before."""
        if self.is_month:
            year, month = divmod(self.start.year * 12 + self.start.month - 2, 12)
            return Period.month(year, month + 1, self.tz)
        first = self.start.date() - timedelta(days=len(self.days))
        return Period.between(first, self.start.date() - timedelta(days=1), self.tz)

    def contains(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.utc_start, column < self.utc_end)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)
