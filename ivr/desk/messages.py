"""Messages (voicemails) and the callbacks agents own: listing, claiming, calling back.

A message is a pending callback with a recording. An agent claims it (it is then theirs
to call back); another agent's claim is refused, and claiming twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from ivr.desk.waiting import Households, Person, households_for
from ivr.models import Call, Callback, CallbackStatus, User
from ivr.outbound.schedule import SOONEST_FIRST, is_overdue

MAX_LISTED = 50


@dataclass(frozen=True)
class CallbackItem:
    """One callback as the desk shows it."""

    id: int
    phone: str
    reason: str
    due_at: datetime
    overdue: bool
    important: bool
    status: str
    attempts: int
    recording_url: str | None
    transcription: str | None
    caller_name: str | None
    unit: str | None
    owner_id: int | None
    owner_name: str | None


def voicemails(session: Session, agent_id: int, now: datetime) -> list[CallbackItem]:
    """Messages still owed a callback that this agent does not own, soonest due first."""
    return _listed(
        session,
        now,
        Callback.status == CallbackStatus.PENDING,
        Callback.recording_url.is_not(None),
        or_(Callback.owner_id.is_(None), Callback.owner_id != agent_id),
    )


def my_callbacks(
    session: Session, agent_id: int, now: datetime, with_unreachable: bool
) -> list[CallbackItem]:
    """The agent's own pending callbacks; supervisors also get the ones nobody reached."""
    mine = (Callback.owner_id == agent_id) & (Callback.status == CallbackStatus.PENDING)
    unreachable = Callback.status == CallbackStatus.UNREACHABLE
    return _listed(session, now, or_(mine, unreachable) if with_unreachable else mine)


def _listed(session: Session, now: datetime, *where: ColumnElement[bool]) -> list[CallbackItem]:
    rows = list(
        session.scalars(select(Callback).where(*where).order_by(*SOONEST_FIRST).limit(MAX_LISTED))
    )
    calls = _calls(session, [row.call_sid for row in rows if row.call_sid])
    known = households_for(
        session,
        {call.resident_id for call in calls.values() if call.resident_id is not None},
        {row.phone for row in rows},
    )
    owners = _names(session, {row.owner_id for row in rows if row.owner_id is not None})
    return [
        _item(row, now, _who(row, calls.get(row.call_sid or ""), known), owners) for row in rows
    ]


def _who(row: Callback, call: Call | None, known: Households) -> Person:
    """The resident to call back, found as the waiting list finds callers: the one the
    IVR identified on the call, else the households registered for the number."""
    if call is None:
        return known.person(None, row.phone, None, None)
    return known.person(call.resident_id, row.phone, call.caller_name, call.unit)


def _calls(session: Session, sids: Sequence[str]) -> dict[str, Call]:
    if not sids:
        return {}
    return {
        call.call_sid: call for call in session.scalars(select(Call).where(Call.call_sid.in_(sids)))
    }


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return dict(rows.all())


def _item(row: Callback, now: datetime, person: Person, owners: dict[int, str]) -> CallbackItem:
    return CallbackItem(
        id=row.id,
        phone=row.phone,
        reason=row.reason,
        due_at=row.due_at,
        overdue=is_overdue(row, now),
        important=row.important,
        status=row.status.value,
        attempts=row.attempts,
        recording_url=row.recording_url,
        transcription=row.transcription,
        caller_name=person.name,
        unit=person.unit,
        owner_id=row.owner_id,
        owner_name=owners.get(row.owner_id) if row.owner_id is not None else None,
    )


class Claim(StrEnum):
    CLAIMED = "claimed"
    ALREADY_YOURS = "already_yours"
    TAKEN = "taken"
    GONE = "gone"  # no such callback, or no longer owed


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    owner_name: str = ""


def claim_callback(session: Session, callback_id: int, agent_id: int, now: datetime) -> ClaimResult:
    """Make a pending callback this agent's; the first claim wins (one UPDATE decides)."""
    claimed = session.execute(
        update(Callback)
        .where(
            Callback.id == callback_id,
            Callback.owner_id.is_(None),
            Callback.status == CallbackStatus.PENDING,
        )
        .values(owner_id=agent_id, claimed_at=now)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        return ClaimResult(Claim.CLAIMED)
    row = session.get(Callback, callback_id)
    if row is None or row.status != CallbackStatus.PENDING:
        return ClaimResult(Claim.GONE)
    if row.owner_id == agent_id:
        return ClaimResult(Claim.ALREADY_YOURS)
    owner = session.get(User, row.owner_id) if row.owner_id is not None else None
    return ClaimResult(Claim.TAKEN, owner.display_name if owner else "")


def may_call_back(session: Session, callback_id: int, agent_id: int, supervisor: bool) -> bool:
    """An agent calls back their own callbacks; a supervisor also the unreachable ones."""
    row = session.get(Callback, callback_id)
    if row is None:
        return False
    if row.status == CallbackStatus.PENDING and row.owner_id == agent_id:
        return True
    return supervisor and row.status in {CallbackStatus.PENDING, CallbackStatus.UNREACHABLE}
