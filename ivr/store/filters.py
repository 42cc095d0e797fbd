"""Filters and pages every list reads the same way, in the API and on the console: dates in
the hotline's time zone, enums, yes/no switches, phone numbers as people type them, page sizes
and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")
Cursor = tuple[datetime, int]  # the sort moment and id of the last row shown

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
SWITCHES = {"true": True, "false": False}
MAX_ID_DIGITS = 18  # longer digit strings would overflow a BIGINT
# A number as typed: digits, maybe a leading +, spaces or dashes between groups.
TYPED_NUMBER = re.compile(r"\+?\d{3,16}")
CHINESE_MOBILE = re.compile(r"1\d{10}")


class FilterError(ValueError):
    """A query parameter that cannot be used; answered with 400 and this message."""


def moment(raw: str, zone: ZoneInfo, end_of_day: bool) -> datetime:
    """A date (in the hotline's time zone, whole day) or an ISO datetime."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), zone).astimezone(UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise FilterError(f"{raw!r} is not a date (YYYY-MM-DD) or ISO datetime") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def period(
    args: Mapping[str, str], zone: ZoneInfo, start: str = "from", end: str = "to"
) -> tuple[datetime | None, datetime | None]:
    """`start` (inclusive) and `end` (a date: inclusive; a datetime: exclusive), in UTC."""
    since = moment(args[start], zone, end_of_day=False) if args.get(start) else None
    until = moment(args[end], zone, end_of_day=True) if args.get(end) else None
    if since and until and until <= since:
        raise FilterError(f"'{end}' must be after '{start}'")
    return since, until


def enum_value(enum: type[E], raw: str | None, name: str) -> E | None:
    if not raw:
        return None
    try:
        return enum(raw)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise FilterError(f"{name} must be one of: {allowed}") from exc


def switch(raw: str | None, name: str) -> bool | None:
    """`true` or `false`; None when the parameter is absent."""
    if not raw:
        return None
    if raw not in SWITCHES:
        raise FilterError(f"{name} must be true or false")
    return SWITCHES[raw]


def typed_number(raw: str, problem: str) -> str:
    """A phone number, whole or its last digits, without the spaces, dashes and brackets
    people type; a FilterError saying `problem` for anything else."""
    number = re.sub(r"[\s\-()]", "", raw)
    if number and not TYPED_NUMBER.fullmatch(number):
        raise FilterError(problem)
    return number


def whole_number(number: str) -> str | None:
    """A typed number as stored (E.164), if all of it was typed; None for its last digits."""
    if number.startswith("+"):
        return number
    if CHINESE_MOBILE.fullmatch(number):
        return "+86" + number
    return None


def phone_condition(column: InstrumentedAttribute[str], number: str) -> ColumnElement[bool]:
    """A whole number matches exactly (on the column's index); fewer digits match the end of
    the number, as people remember it ("the one ending 8000")."""
    whole = whole_number(number)
    if whole is not None:
        return column == whole
    trunk_dropped = number[1:] if len(number) >= 10 and number.startswith("0") else number
    return column.endswith(trunk_dropped, autoescape=True)


def page_size(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(at: datetime, ident: int) -> str:
    """Where the next page starts: the sort moment and id of the last row shown."""
    raw = f"{at.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        at, _, ident = text.partition("|")
        return datetime.fromisoformat(at), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise FilterError("cursor is not one this API returned") from exc


def optional_cursor(args: Mapping[str, str], name: str = "cursor") -> Cursor | None:
    return decode_cursor(args[name]) if args.get(name) else None


def older_than(
    cursor: tuple[datetime, int],
    at: InstrumentedAttribute[datetime],
    ident: InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """Rows after the cursor in a newest-first list ordered by (at, id)."""
    last_at, last_id = cursor
    return or_(at < last_at, and_(at == last_at, ident < last_id))


def later_than(
    cursor: tuple[datetime, int],
    at: InstrumentedAttribute[datetime],
    ident: InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """Rows after the cursor in a soonest-first list ordered by (at, id)."""
    last_at, last_id = cursor
    return or_(at > last_at, and_(at == last_at, ident > last_id))


def row_id(key: str) -> int | None:
    """A row id as written in a URL (`42`); None for anything else, or too big for a BIGINT."""
    canonical = key.isascii() and key.isdigit() and not key.startswith("0")
    return int(key) if canonical and len(key) <= MAX_ID_DIGITS else None


def one_page(rows: Sequence[T], limit: int) -> tuple[Sequence[T], bool]:
    """The page to show, from a query that fetched one row more; and whether more follow."""
    return rows[:limit], len(rows) > limit


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# --- keyset pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    rows: Sequence[T]
    newer: str | None  # cursor of the page before this one (newer rows), if any
    older: str | None  # cursor of the page after this one (older rows), if any


@dataclass(frozen=True)
class Keyset(Generic[T]):
    """A list newest first by a moment, the row id breaking ties. Pages never count or skip
    rows: each starts from the (moment, id) of the row before it, which an index on the two
    reaches at once, on page 1 as on page 20 000."""

    at: InstrumentedAttribute[datetime]
    ident: InstrumentedAttribute[int]

    def cursor_of(self, row: T) -> str:
        return encode_cursor(getattr(row, self.at.key), getattr(row, self.ident.key))

    def newest_first(self, query: Select[T], after: Cursor | None = None) -> Select[T]:
        """Newest first, continuing after `after` (the last row already shown) if given."""
        if after is not None:
            query = query.where(older_than(after, self.at, self.ident))
        return query.order_by(self.at.desc(), self.ident.desc())

    def page(
        self,
        session: Session,
        query: Select[T],
        size: int,
        older: Cursor | None = None,
        newer: Cursor | None = None,
    ) -> KeysetPage[T]:
        """One page, newest first: the first page, the one `older` than a cursor, or the one
        `newer` than it (read oldest first from the cursor, then turned round)."""
        if newer is not None:
            return self._newer_page(session, query, size, newer)
        newest = self.newest_first(query, older).limit(size + 1)
        rows, more = one_page(list(session.scalars(newest)), size)
        return KeysetPage(
            rows,
            newer=self.cursor_of(rows[0]) if older is not None and rows else None,
            older=self.cursor_of(rows[-1]) if more else None,
        )

    def _newer_page(
        self, session: Session, query: Select[T], size: int, newer: Cursor
    ) -> KeysetPage[T]:
        soonest = (
            query.where(later_than(newer, self.at, self.ident))
            .order_by(self.at, self.ident)
            .limit(size + 1)
        )
        soonest_first, more = one_page(list(session.scalars(soonest)), size)
        rows = list(reversed(soonest_first))
        return KeysetPage(
            rows,
            newer=self.cursor_of(rows[0]) if more else None,
            older=self.cursor_of(rows[-1]) if rows else None,
        )
