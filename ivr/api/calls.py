"""Reading the call log: filters, keyset pagination and JSON shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from ivr.api.params import (
    DEFAULT_LIMIT,
    encode_cursor,
    enum_value,
    iso,
    one_page,
    optional_cursor,
    page_size,
    period,
)
from ivr.calllog.query import CallLogFilters, newest_first
from ivr.models import Call, CallCategory, CallEventRow, CallOutcome


@dataclass(frozen=True)
class CallFilters:
    """The API's documented filters (period, category, outcome) over the console's shared
    call-log filters, with its own page size."""

    log: CallLogFilters = field(default_factory=CallLogFilters)
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, int] | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> CallFilters:
        since, until = period(args, zone)
        log = CallLogFilters(
            since=since,
            until=until,
            category=enum_value(CallCategory, args.get("category"), "category"),
            outcome=enum_value(CallOutcome, args.get("outcome"), "outcome"),
        )
        return cls(log=log, limit=page_size(args.get("limit")), cursor=optional_cursor(args))

    def query(self) -> Select[Call]:
        return newest_first(self.log.query(), self.cursor).limit(self.limit + 1)


def call_json(call: Call) -> dict[str, Any]:
    return {
        "call_sid": call.call_sid,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "caller_number": call.caller_number,
        "called_number": call.called_number,
        "caller_name": call.caller_name,
        "unit": call.unit,
        "locale": call.locale,
        "category": call.category.value if call.category else None,
        "content": call.content,
        "outcome": call.outcome.value if call.outcome else None,
        "handler": call.handler,
        "follow_up": call.follow_up,
        "status": call.status.value,
        "duration_s": call.duration_s,
        "queue": call.queue,
        "recording_url": call.recording_url,
        "greeting_ms": call.greeting_ms,
    }


def event_json(event: CallEventRow) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": iso(event.at),
        "seq": event.seq,
        "node": event.node,
        "detail": event.detail,
    }


def list_calls(session: Session, filters: CallFilters) -> dict[str, Any]:
    page, more = one_page(list(session.scalars(filters.query())), filters.limit)
    return {
        "calls": [call_json(call) for call in page],
        "next_cursor": encode_cursor(page[-1].started_at, page[-1].id) if more else None,
    }


def call_detail(session: Session, call_sid: str) -> dict[str, Any] | None:
    call = session.scalars(
        select(Call).where(Call.call_sid == call_sid).options(selectinload(Call.events))
    ).one_or_none()
    if call is None:
        return None
    return {**call_json(call), "events": [event_json(e) for e in call.events]}
