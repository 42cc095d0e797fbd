"""Reading the call log: filters, keyset pagination and JSON shapes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from ivr.models import Call, CallCategory, CallEventRow, CallOutcome

E = TypeVar("E", CallCategory, CallOutcome)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class FilterError(ValueError):
    """A query parameter the API cannot use; answered with 400 and this message."""


def _moment(raw: str, zone: ZoneInfo, end_of_day: bool) -> datetime:
    """A date (in the hotline's time zone, whole day) or an ISO datetime."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), zone).astimezone(UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise FilterError(f"{raw!r} is not a date (YYYY-MM-DD) or ISO datetime") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _enum_value(enum: type[E], raw: str | None, name: str) -> E | None:
    if not raw:
        return None
    try:
        return enum(raw)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise FilterError(f"{name} must be one of: {allowed}") from exc


def _limit(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(call: Call) -> str:
    raw = f"{call.started_at.isoformat()}|{call.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        moment, _, ident = text.partition("|")
        return datetime.fromisoformat(moment), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise FilterError("cursor is not one this API returned") from exc


@dataclass(frozen=True)
class CallFilters:
    since: datetime | None = None
    until: datetime | None = None
    category: CallCategory | None = None
    outcome: CallOutcome | None = None
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, int] | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> CallFilters:
        since = _moment(args["from"], zone, end_of_day=False) if args.get("from") else None
        until = _moment(args["to"], zone, end_of_day=True) if args.get("to") else None
        if since and until and until <= since:
            raise FilterError("'to' must be after 'from'")
        return cls(
            since=since,
            until=until,
            category=_enum_value(CallCategory, args.get("category"), "category"),
            outcome=_enum_value(CallOutcome, args.get("outcome"), "outcome"),
            limit=_limit(args.get("limit")),
            cursor=decode_cursor(args["cursor"]) if args.get("cursor") else None,
        )

    def query(self) -> Select[Call]:
        conditions = []
        if self.since:
            conditions.append(Call.started_at >= self.since)
        if self.until:
            conditions.append(Call.started_at < self.until)
        if self.category:
            conditions.append(Call.category == self.category)
        if self.outcome:
            conditions.append(Call.outcome == self.outcome)
        if self.cursor:
            moment, ident = self.cursor
            conditions.append(
                or_(Call.started_at < moment, and_(Call.started_at == moment, Call.id < ident))
            )
        newest_first = (Call.started_at.desc(), Call.id.desc())
        return select(Call).where(*conditions).order_by(*newest_first).limit(self.limit + 1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def call_json(call: Call) -> dict[str, Any]:
    return {
        "call_sid": call.call_sid,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
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
        "at": _iso(event.at),
        "seq": event.seq,
        "node": event.node,
        "detail": event.detail,
    }


def list_calls(session: Session, filters: CallFilters) -> dict[str, Any]:
    rows = list(session.scalars(filters.query()))
    page, more = rows[: filters.limit], len(rows) > filters.limit
    return {
        "calls": [call_json(call) for call in page],
        "next_cursor": encode_cursor(page[-1]) if more else None,
    }


def call_detail(session: Session, call_sid: str) -> dict[str, Any] | None:
    call = session.scalars(
        select(Call).where(Call.call_sid == call_sid).options(selectinload(Call.events))
    ).one_or_none()
    if call is None:
        return None
    return {**call_json(call), "events": [event_json(e) for e in call.events]}
