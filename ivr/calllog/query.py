"""Finding calls in the call log: the filters the API and the console share, free-text
search, and keyset pages that stay fast however long the log grows.

Pages never count or skip rows: each starts from the (started_at, id) of the row before it,
which the (started_at, id) index reaches at once (ivr.store.filters.Keyset).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, or_, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.models import Call, CallCategory, CallOutcome, Ticket, WrapUp
from ivr.store.db import Database
from ivr.store.filters import Cursor as Cursor  # callers page the call log with it
from ivr.store.filters import (
    FilterError,
    Keyset,
    enum_value,
    later_than,
    older_than,
    period,
    phone_condition,
    row_id,
    switch,
    typed_number,
)

PAGE_SIZE = 50
EXPORT_BATCH = 1000
MAX_SEARCH_LENGTH = 100

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
            caller=typed_number(
                args.get("caller", ""),
                "caller must be a phone number or its last digits (at least 3)",
            ),
            agent_id=staff_id(args.get("agent", "")),
            breached=switch(args.get("breached"), "breached"),
            text=search_text(args.get("q", "")),
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [text_condition(self.text)] if self.text else []
        return self.conditions_but_text() + found

    def conditions_but_text(self) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool] | None] = [
            Call.started_at >= self.since if self.since else None,
            Call.started_at < self.until if self.until else None,
            Call.category == self.category if self.category else None,
            Call.outcome == self.outcome if self.outcome else None,
            Call.direction == self.direction.value if self.direction else None,
            unit_condition(self.unit) if self.unit else None,
            phone_condition(Call.caller_number, self.caller) if self.caller else None,
            Call.agent_id == self.agent_id if self.agent_id is not None else None,
            breached_condition(self.breached) if self.breached is not None else None,
        ]
        return [condition for condition in wanted if condition is not None]

    def query(self) -> Select[Call]:
        return select(Call).where(*self.conditions())


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


def text_places(text: str) -> list[ColumnElement[bool]]:
    """Where a search looks, case-insensitive and anywhere in: the call's content (every
    choice and every sentence the caller said, as the call-log worker writes it from the
    speech events), Twilio's transcriptions of recorded descriptions (kept on the ticket),
    and agents' wrap-up notes. The subqueries are not correlated: each runs once per search."""
    transcribed = select(Ticket.call_sid).where(
        Ticket.call_sid.is_not(None), found_in(Ticket.transcription, text)
    )
    noted = select(WrapUp.call_sid).where(found_in(WrapUp.notes, text))
    return [found_in(Call.content, text), Call.call_sid.in_(transcribed), Call.call_sid.in_(noted)]


def text_condition(text: str) -> ColumnElement[bool]:
    return or_(*text_places(text))


def found_in(column: InstrumentedAttribute[Any], text: str) -> ColumnElement[bool]:
    """`text` anywhere in the column, ignoring case. Chinese has no case, so a search
    without letters skips lowering every row (and PostgreSQL's slower ILIKE)."""
    if text.lower() == text.upper():
        return column.contains(text, autoescape=True)
    return column.icontains(text, autoescape=True)


# --- keyset pages ---------------------------------------------------------------------------

CALLS_BY_START: Keyset[Call] = Keyset(Call.started_at, Call.id)


@dataclass(frozen=True)
class CallPage:
    calls: Sequence[Call]
    newer: str | None  # cursor of the page before this one (newer calls), if any
    older: str | None  # cursor of the page after this one (older calls), if any


def newest_first(query: Select[Call], after: Cursor | None = None) -> Select[Call]:
    """Newest first, continuing after `after` (the last row already shown) if given."""
    return CALLS_BY_START.newest_first(query, after)


def call_page(
    session: Session,
    filters: CallLogFilters,
    older: Cursor | None = None,
    newer: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> CallPage:
    """One page, newest first: the first page, or the one `older` or `newer` than a cursor."""
    query = searched(filters, size, older, newer) if filters.text else filters.query()
    page = CALLS_BY_START.page(session, query, size, older, newer)
    return CallPage(page.rows, page.newer, page.older)


def searched(
    filters: CallLogFilters, size: int, older: Cursor | None, newer: Cursor | None
) -> Select[Call]:
    """A search's page, one place at a time: PostgreSQL cannot use the trigram index on
    `content` inside an OR with the notes and transcriptions, and would test every call
    in the log for a rare word. So each place gives its own first page (its own index, cut
    at one page past the cursor, in the page's direction), and the page is taken from
    their union: the calls it holds are the same, read from at most three pages."""
    others = filters.conditions_but_text()
    candidates = [
        _page_of_ids(select(Call.id).where(*others, place), size, older, newer).subquery()
        for place in text_places(filters.text)
    ]
    ids = union_all(*(select(candidate.c.id) for candidate in candidates))
    return select(Call).where(Call.id.in_(ids))


def _page_of_ids(
    query: Select[int], size: int, older: Cursor | None, newer: Cursor | None
) -> Select[int]:
    if newer is not None:
        soonest = query.where(later_than(newer, Call.started_at, Call.id))
        return soonest.order_by(Call.started_at, Call.id).limit(size + 1)
    if older is not None:
        query = query.where(older_than(older, Call.started_at, Call.id))
    return query.order_by(Call.started_at.desc(), Call.id.desc()).limit(size + 1)


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
