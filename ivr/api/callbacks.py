"""Reading the callbacks we owe residents (R7): filters, soonest-due first, JSON shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, not_, select
from sqlalchemy.orm import Session, selectinload

from ivr.api.calls import call_json
from ivr.api.params import (
    DEFAULT_LIMIT,
    encode_cursor,
    enum_value,
    iso,
    later_than,
    one_page,
    optional_cursor,
    page_size,
    period,
    row_id,
    switch,
)
from ivr.models import Call, Callback, CallbackAttempt, CallbackKind, CallbackStatus, User
from ivr.outbound.schedule import SOONEST_FIRST, is_overdue, overdue_column


def _overdue(wanted: bool | None, now: datetime) -> ColumnElement[bool] | None:
    if wanted is None:
        return None
    return overdue_column(now) if wanted else not_(overdue_column(now))


@dataclass(frozen=True)
class CallbackFilters:
    now: datetime
    due_after: datetime | None = None
    due_before: datetime | None = None
    status: CallbackStatus | None = None
    kind: CallbackKind | None = None
    important: bool | None = None
    overdue: bool | None = None
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, int] | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo, now: datetime) -> CallbackFilters:
        due_after, due_before = period(args, zone, start="due_after", end="due_before")
        return cls(
            now=now,
            due_after=due_after,
            due_before=due_before,
            status=enum_value(CallbackStatus, args.get("status"), "status"),
            kind=enum_value(CallbackKind, args.get("kind"), "kind"),
            important=switch(args.get("important"), "important"),
            overdue=switch(args.get("overdue"), "overdue"),
            limit=page_size(args.get("limit")),
            cursor=optional_cursor(args),
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        checks = [
            Callback.due_at >= self.due_after if self.due_after else None,
            Callback.due_at < self.due_before if self.due_before else None,
            Callback.status == self.status if self.status else None,
            Callback.kind == self.kind if self.kind else None,
            Callback.important == self.important if self.important is not None else None,
            _overdue(self.overdue, self.now),
            later_than(self.cursor, Callback.due_at, Callback.id) if self.cursor else None,
        ]
        return [check for check in checks if check is not None]

    def query(self) -> Select[Callback]:
        return (
            select(Callback)
            .where(*self.conditions())
            .options(selectinload(Callback.attempt_log))
            .order_by(*SOONEST_FIRST)
            .limit(self.limit + 1)
        )


def callback_json(
    callback: Callback, now: datetime, staff: Mapping[int, User] | None = None
) -> dict[str, Any]:
    """`staff`: the owner and the agents of its attempts, by id (named when given)."""
    known = staff or {}
    return {
        "id": callback.id,
        "kind": callback.kind.value,
        "phone": callback.phone,
        "reason": callback.reason,
        "queue": callback.queue,
        "important": callback.important,
        "keeps_place": callback.keeps_place,
        "locale": callback.locale,
        "due_at": iso(callback.due_at),
        "next_attempt_at": iso(callback.next_attempt_at),
        "status": callback.status.value,
        "owner": _person(callback.owner_id, known),
        "attempts": callback.attempts,
        "attempt_log": [_attempt_json(attempt, known) for attempt in callback.attempt_log],
        "outcome": callback.outcome,
        "completed_at": iso(callback.completed_at),
        "recording_url": callback.recording_url,
        "ticket_id": callback.ticket_id,
        "created_at": iso(callback.created_at),
        "call_sid": callback.call_sid,
        "overdue": is_overdue(callback, now),
    }


def _attempt_json(attempt: CallbackAttempt, staff: Mapping[int, User]) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "status": attempt.status.value,
        "agent": _person(attempt.agent_id, staff),
        "call_sid": attempt.call_sid,
        "started_at": iso(attempt.started_at),
        "ended_at": iso(attempt.ended_at),
        "outcome": attempt.outcome,
    }


def _person(user_id: int | None, staff: Mapping[int, User]) -> dict[str, Any] | None:
    if user_id is None:
        return None
    user = staff.get(user_id)
    return {
        "id": user_id,
        "username": user.username if user else None,
        "display_name": user.display_name if user else None,
    }


def staff_of(session: Session, callbacks: Sequence[Callback]) -> dict[int, User]:
    """The owners and attempt agents of these callbacks, in one query."""
    ids = {c.owner_id for c in callbacks} | {a.agent_id for c in callbacks for a in c.attempt_log}
    wanted = {ident for ident in ids if ident is not None}
    if not wanted:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(wanted)))}


def list_callbacks(session: Session, filters: CallbackFilters) -> dict[str, Any]:
    page, more = one_page(list(session.scalars(filters.query())), filters.limit)
    staff = staff_of(session, page)
    return {
        "callbacks": [callback_json(callback, filters.now, staff) for callback in page],
        "next_cursor": encode_cursor(page[-1].due_at, page[-1].id) if more else None,
    }


def callback_detail(session: Session, key: str, now: datetime) -> dict[str, Any] | None:
    """One callback by id, with the call that caused it (null when that call is not logged)."""
    ident = row_id(key)
    callback = session.get(Callback, ident) if ident is not None else None
    if callback is None:
        return None
    call = None
    if callback.call_sid:
        call = session.scalars(select(Call).where(Call.call_sid == callback.call_sid)).first()
    staff = staff_of(session, [callback])
    return {**callback_json(callback, now, staff), "call": call_json(call) if call else None}
