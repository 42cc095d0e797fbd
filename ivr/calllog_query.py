"""Finding calls in the call log: the filters the API and the console share, free-text
search, and keyset pages that stay fast however long the log grows.

Pages never count or skip rows: each starts from the (started_at, id) of the row before it,
which the (started_at, id) index reaches at once, on page 1 as on page 20 000.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.db import Database
from ivr.models import Call, CallCategory, CallOutcome, Ticket, WrapUp
from ivr.query_params import (
    FilterError,
    decode_cursor,
    encode_cursor,
    enum_value,
    later_than,
    older_than,
    one_page,
    period,
    row_id,
    switch,
)

PAGE_SIZE = 50
EXPORT_BATCH = 1000
MAX_SEARCH_LENGTH = 100
Cursor = tuple[datetime, int]

# A number as typed: digits, maybe a leading +, spaces or dashes between groups.
TYPED_NUMBER = re.compile(r"\+?\d{3,16}")
CHINESE_MOBILE = re.compile(r"1\d{10}")
# A whole unit as the register writes it (3栋2单元501室): looked up on the unit index.
WHOLE_UNIT = re.compile(r"\d+栋(\d+单元)?\d+室")


class CallDirection(StrEnum):
    INBOUND = "inbound"  # a resident phoned the hotline
    OUTBOUND = "outbound"  # the hotline phoned out: a callback or a survey


@dataclass(frozen=True)
class CallLogFilters:
    """Which calls to show. Every field narrows the list; an empty filter lists them all."""

    since: datetime | None = None
    until: datetime | None = None
    category: CallCategory | None = None
    outcome: CallOutcome | None = None
    direction: CallDirection | None = None
    unit: str = ""
    caller: str = ""  # a whole number, or its last digits
    agent_id: int | None = None
    breached: bool | None = None  # the call's ticket missed (True) or kept (False) its deadline
    text: str = ""  # searched in what callers said, transcriptions and agents' notes

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> CallLogFilters:
        """The console's query string; a FilterError names the parameter that is wrong."""
        since, until = period(args, zone)
        return cls(
            since=since,
            until=until,
            category=enum_value(CallCategory, args.get("category"), "category"),
            outcome=enum_value(CallOutcome, args.get("outcome"), "outcome"),
            direction=enum_value(CallDirection, args.get("direction"), "direction"),
            unit=args.get("unit", "").strip()[:64],
            caller=typed_number(args.get("caller", "")),
            agent_id=staff_id(args.get("agent", "")),
            breached=switch(args.get("breached"), "breached"),
            text=search_text(args.get("q", "")),
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool] | None] = [
            Call.started_at >= self.since if self.since else None,
            Call.started_at < self.until if self.until else None,
            Call.category == self.category if self.category else None,
            Call.outcome == self.outcome if self.outcome else None,
            Call.direction == self.direction.value if self.direction else None,
            unit_condition(self.unit) if self.unit else None,
            caller_condition(self.caller) if self.caller else None,
            Call.agent_id == self.agent_id if self.agent_id is not None else None,
            breached_condition(self.breached) if self.breached is not None else None,
            text_condition(self.text) if self.text else None,
        ]
        return [condition for condition in wanted if condition is not None]

    def query(self) -> Select[Call]:
        return select(Call).where(*self.conditions())


def typed_number(raw: str) -> str:
    number = re.sub(r"[\s\-()]", "", raw)
    if number and not TYPED_NUMBER.fullmatch(number):
        raise FilterError("caller must be a phone number or its last digits (at least 3)")
    return number


def staff_id(raw: str) -> int | None:
    if not raw:
        return None
    found = row_id(raw)
    if found is None:
        raise FilterError("agent must be one of the staff listed")
    return found


def search_text(raw: str) -> str:
    text = " ".join(raw.split())
    if len(text) > MAX_SEARCH_LENGTH:
        raise FilterError(f"the search may be at most {MAX_SEARCH_LENGTH} characters")
    return text


def caller_condition(number: str) -> ColumnElement[bool]:
    """A whole number matches exactly (on the caller_number index); fewer digits match the
    end of the number, as people remember it ("the one ending 8000")."""
    if number.startswith("+"):
        return Call.caller_number == number
    if CHINESE_MOBILE.fullmatch(number):
        return Call.caller_number == "+86" + number
    trunk_dropped = number[1:] if len(number) >= 10 and number.startswith("0") else number
    return Call.caller_number.endswith(trunk_dropped, autoescape=True)


def unit_condition(unit: str) -> ColumnElement[bool]:
    """A whole unit matches exactly (indexed); part of one (3栋, 501室) anywhere in it."""
    if WHOLE_UNIT.fullmatch(unit):
        return Call.unit == unit
    return found_in(Call.unit, unit)


def breached_condition(breached: bool) -> ColumnElement[bool]:
    breaching = select(Ticket.call_sid).where(
        Ticket.call_sid.is_not(None), Ticket.breached_at.is_not(None)
    )
    return Call.call_sid.in_(breaching) if breached else Call.call_sid.not_in(breaching)


def text_condition(text: str) -> ColumnElement[bool]:
    """Case-insensitive, anywhere in: the call's content (every choice and every sentence
    the caller said, as the call-log worker writes it from the speech events), Twilio's
    transcriptions of recorded descriptions (kept on the ticket), and agents' wrap-up notes.
    The subqueries are not correlated, so each runs once per search, not once per call."""
    transcribed = select(Ticket.call_sid).where(
        Ticket.call_sid.is_not(None), found_in(Ticket.transcription, text)
    )
    noted = select(WrapUp.call_sid).where(found_in(WrapUp.notes, text))
    return found_in(Call.content, text) | Call.call_sid.in_(transcribed) | Call.call_sid.in_(noted)


def found_in(column: InstrumentedAttribute[Any], text: str) -> ColumnElement[bool]:
    """`text` anywhere in the column, ignoring case. Chinese has no case, so a search
    without letters skips lowering every row (and PostgreSQL's slower ILIKE)."""
    if text.lower() == text.upper():
        return column.contains(text, autoescape=True)
    return column.icontains(text, autoescape=True)


# --- keyset pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPage:
    calls: Sequence[Call]
    newer: str | None  # cursor of the page before this one (newer calls), if any
    older: str | None  # cursor of the page after this one (older calls), if any


def cursor_of(call: Call) -> str:
    return encode_cursor(call.started_at, call.id)


def optional_cursor(raw: str | None) -> Cursor | None:
    return decode_cursor(raw) if raw else None


def newest_first(query: Select[Call], after: Cursor | None = None) -> Select[Call]:
    """Newest first, continuing after `after` (the last row already shown) if given."""
    if after is not None:
        query = query.where(older_than(after, Call.started_at, Call.id))
    return query.order_by(Call.started_at.desc(), Call.id.desc())


def call_page(
    session: Session,
    filters: CallLogFilters,
    older: Cursor | None = None,
    newer: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> CallPage:
    """One page, newest first: the first page, the one `older` than a cursor, or the one
    `newer` than it (read oldest first from the cursor, then turned round)."""
    if newer is not None:
        return _newer_page(session, filters, newer, size)
    query = newest_first(filters.query(), older).limit(size + 1)
    calls, more = one_page(list(session.scalars(query)), size)
    return CallPage(
        calls,
        newer=cursor_of(calls[0]) if older is not None and calls else None,
        older=cursor_of(calls[-1]) if more else None,
    )


def _newer_page(session: Session, filters: CallLogFilters, newer: Cursor, size: int) -> CallPage:
    query = (
        filters.query()
        .where(later_than(newer, Call.started_at, Call.id))
        .order_by(Call.started_at, Call.id)
        .limit(size + 1)
    )
    soonest_first, more = one_page(list(session.scalars(query)), size)
    calls = list(reversed(soonest_first))
    return CallPage(
        calls,
        newer=cursor_of(calls[0]) if more else None,
        older=cursor_of(calls[-1]) if calls else None,
    )


def calls_in_batches(
    db: Database, filters: CallLogFilters, batch: int = EXPORT_BATCH
) -> Iterator[Sequence[Call]]:
    """Every matching call, newest first, a batch per short read: an export of millions of
    calls holds one batch in memory and no transaction open between batches."""
    after: Cursor | None = None
    while True:
        with db.reader() as session:
            calls = list(session.scalars(newest_first(filters.query(), after).limit(batch)))
        if calls:
            yield calls
        if len(calls) < batch:
            return
        after = (calls[-1].started_at, calls[-1].id)
