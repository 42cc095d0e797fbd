"""Query parameters every list reads the same way, in the API and on the console: dates in
the hotline's time zone, enums, yes/no switches, page sizes and keyset cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
SWITCHES = {"true": True, "false": False}
MAX_ID_DIGITS = 18  # longer digit strings would overflow a BIGINT


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


def optional_cursor(args: Mapping[str, str]) -> tuple[datetime, int] | None:
    return decode_cursor(args["cursor"]) if args.get("cursor") else None


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
