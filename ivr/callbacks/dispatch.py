"""Callbacks (R7) and return-visit surveys (回访, R5/R6): which are due, who calls, and what
each attempt ended in.

A callback's `due_at` is the time we promised; it may be tried from `next_attempt_at` (or at
once when that is empty), in office hours only. Resident callbacks ring an agent first and
bridge them to the resident; surveys ring the resident and ask for a rating.

An attempt is claimed first: its row, with an idempotency key naming the callback and the
try, is committed before Twilio is asked to ring. A replayed job finds the try claimed and
rings nobody; a worker that died between the claim and the call leaves a row without a
CallSid, which the sweep marks `unknown` and never places again. What happened on the call
comes back as call-log events from `ivr/voice/outbound.py`, which the worker applies
(`ivr.callbacks.outcomes`), settling attempts here.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from ivr.callbacks.calls import outbound_call
from ivr.callbacks.legs import (
    MAX_TRIES,
    RETRY_AFTER,
    STATUS_PATH,
    CallbackLeg,
    PlannedCall,
)
from ivr.calllog.waiting import waiting_callers
from ivr.config import Settings
from ivr.core.callback_prompts import EMERGENCY_BY_CATEGORY, TOPICS
from ivr.core.hours import next_opening, office_is_open
from ivr.models import (
    AttemptStatus,
    Availability,
    Call,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    Ticket,
    User,
)
from ivr.outbound.telephony import Telephony, TelephonyError
from ivr.registry.residents import is_e164
from ivr.store.db import Database, insert_ignoring_duplicates

log = logging.getLogger(__name__)

UNPLACED_AFTER = timedelta(minutes=5)  # claimed, no CallSid: the worker died before placing
SILENT_AFTER = timedelta(hours=2)  # placed, but no result ever came back from Twilio
SURVEYS_PER_SWEEP = 20  # a burst of automated calls is spread over the following minutes


# How the callback came about (SOURCES), by its key's prefix.
SOURCE_BY_KEY_PREFIX = {"virtual-hold": "asked", "abandoned": "missed", "message": "message"}


class ClaimedElsewhereError(RuntimeError):
    """Another worker claimed this try (or the agent) first: this one stands down."""


# --- the sweep: what is due, in which order ------------------------------------------------


def callbacks_to_try(session: Session, now: datetime, settings: Settings) -> list[int]:
    """Every minute: settle attempts that went quiet, then the callbacks to try now, in
    order: those keeping a place in line (virtual hold) first, then important ones, then by
    promised time. Resident callbacks only as many as there are free agents to take them,
    and callers waiting in a queue now come first, except for those who arrived after a
    virtual-hold caller asked to be called back: that caller keeps their place ahead."""
    settle_quiet_attempts(session, now, settings)
    if not office_is_open(settings, now):  # an emergency's alert calls ring at any hour
        alerts = session.scalars(_due(now).where(Callback.kind == CallbackKind.ALERT))
        return [callback.id for callback in alerts]
    free = len(free_agents(session))
    joined = sorted(waiting.joined_at for waiting in waiting_callers(session))
    chosen: list[int] = []
    surveys = 0
    for callback in session.scalars(_due(now)):
        if callback.kind == CallbackKind.ALERT:
            chosen.append(callback.id)
        elif callback.kind == CallbackKind.SURVEY:
            if surveys < SURVEYS_PER_SWEEP:
                surveys += 1
                chosen.append(callback.id)
        elif free > _callers_ahead_of(callback, joined):
            free -= 1
            chosen.append(callback.id)
    return chosen


def _callers_ahead_of(callback: Callback, joined: list[datetime]) -> int:
    """How many callers in the queues now are served before this callback: all of them,
    unless it keeps a place, then only those who were already waiting when it was asked for."""
    if not callback.keeps_place:
        return len(joined)
    return bisect_left(joined, callback.created_at)


def _due(now: datetime) -> Select[Callback]:
    return (
        select(Callback)
        .where(
            Callback.status == CallbackStatus.PENDING,
            or_(Callback.next_attempt_at.is_(None), Callback.next_attempt_at <= now),
            Callback.id.not_in(_callbacks_in_flight()),
        )
        .order_by(
            Callback.keeps_place.desc(),
            Callback.important.desc(),
            Callback.due_at,
            Callback.id,
        )
        .limit(500)
    )


def _callbacks_in_flight() -> Select[int]:
    return select(CallbackAttempt.callback_id).where(CallbackAttempt.ended_at.is_(None))


def free_agents(session: Session) -> list[User]:
    """Staff who said they are available and are not already on a callback."""
    held = select(CallbackAttempt.agent_id).where(
        CallbackAttempt.ended_at.is_(None), CallbackAttempt.agent_id.is_not(None)
    )
    return list(
        session.scalars(
            select(User)
            .where(
                User.availability == Availability.AVAILABLE,
                User.phone != "",
                User.id.not_in(held),
            )
            .order_by(User.id)
        )
    )


def _agent_for(session: Session, callback: Callback) -> User | None:
    """The callback's owner when they are free, else whoever is free."""
    free = free_agents(session)
    owner = next((agent for agent in free if agent.id == callback.owner_id), None)
    return owner or (free[0] if free else None)


# --- one attempt: claim, then ring ------------------------------------------------------------


def try_callback(
    db: Database,
    telephony: Telephony,
    settings: Settings,
    now: datetime,
    callback_id: int,
    *,
    on_request: bool,
) -> AttemptStatus | None:
    """Claim the next try of this callback and place its call; None when it is not to be
    tried now (not due, closed, already being tried, no agent free, claimed elsewhere)."""
    try:
        with db.session() as session:
            planned = claim_attempt(session, callback_id, now, settings, on_request=on_request)
    except ClaimedElsewhereError:
        return None
    if planned is None:
        return None
    return place_attempt(db, telephony, settings, planned, now)


def claim_attempt(
    session: Session, callback_id: int, now: datetime, settings: Settings, *, on_request: bool
) -> PlannedCall | None:
    """Insert the attempt row (and hold the agent); the caller commits before ringing."""
    callback = session.get(Callback, callback_id, with_for_update=True)
    if callback is None or not _may_try(session, callback, now, settings, on_request):
        return None
    if not is_e164(callback.phone):  # an anonymous caller: nobody to ring, say so at once
        _finish(callback, CallbackStatus.UNREACHABLE, "no number to call back", now)
        return None
    if callback.kind == CallbackKind.SURVEY and _ticket_reopened(session, callback, now):
        return None
    agent = None
    if outbound_call(callback.kind).rings_agent_first:
        agent = _agent_for(session, callback)
        if agent is None or not _hold(session, agent.id):
            return None
    attempt_id = _insert_attempt(session, callback, agent, now)
    if callback.status == CallbackStatus.UNREACHABLE:  # a person asked for one more try
        callback.status, callback.completed_at = CallbackStatus.PENDING, None
    leg = _leg(session, callback, attempt_id, agent)
    return _plan(leg, agent, settings)


def _may_try(
    session: Session, callback: Callback, now: datetime, settings: Settings, on_request: bool
) -> bool:
    """Pending (or, when a person asks, unreachable), nothing in flight, and unless a person
    asked: office hours, and its next try is due."""
    allowed = {CallbackStatus.PENDING} | ({CallbackStatus.UNREACHABLE} if on_request else set())
    if callback.status not in allowed:
        return False
    in_flight = session.scalar(
        select(func.count())
        .select_from(CallbackAttempt)
        .where(CallbackAttempt.callback_id == callback.id, CallbackAttempt.ended_at.is_(None))
    )
    if in_flight:
        return False
    if on_request:
        return True
    waiting = callback.next_attempt_at is not None and callback.next_attempt_at > now
    at_any_hour = callback.kind == CallbackKind.ALERT
    return (at_any_hour or office_is_open(settings, now)) and not waiting


def _ticket_reopened(session: Session, callback: Callback, now: datetime) -> bool:
    """A return visit is for finished work: a ticket open again needs no survey now."""
    ticket = session.get(Ticket, callback.ticket_id) if callback.ticket_id else None
    if ticket is None or ticket.status.is_open:
        callback.status, callback.completed_at = CallbackStatus.CANCELLED, now
        callback.outcome = "cancelled: the ticket is open again"
        return True
    return False


def _hold(session: Session, agent_id: int) -> bool:
    """Available → busy, in one conditional UPDATE: two workers never hold the same agent."""
    statement = (
        update(User)
        .where(User.id == agent_id, User.availability == Availability.AVAILABLE)
        .values(availability=Availability.BUSY)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _insert_attempt(session: Session, callback: Callback, agent: User | None, now: datetime) -> int:
    last = session.scalar(
        select(func.max(CallbackAttempt.number)).where(CallbackAttempt.callback_id == callback.id)
    )
    number = (last or 0) + 1
    key = f"callback:{callback.id}:attempt:{number}"
    row = {
        "callback_id": callback.id,
        "number": number,
        "idempotency_key": key,
        "status": _first_status(callback).value,
        "agent_id": agent.id if agent else None,
        "started_at": now,
    }
    table: Any = CallbackAttempt.__table__
    if not insert_ignoring_duplicates(session, table, [row], "idempotency_key"):
        raise ClaimedElsewhereError(key)  # rolls back the agent's hold with the rest
    return session.scalars(
        select(CallbackAttempt.id).where(CallbackAttempt.idempotency_key == key)
    ).one()


def _first_status(callback: Callback) -> AttemptStatus:
    if outbound_call(callback.kind).rings_agent_first:
        return AttemptStatus.DIALING_AGENT
    return AttemptStatus.DIALING_RESIDENT


def _leg(session: Session, callback: Callback, attempt_id: int, agent: User | None) -> CallbackLeg:
    leg = CallbackLeg(
        callback_id=callback.id,
        attempt_id=attempt_id,
        kind=callback.kind,
        phone=callback.phone,
        locale=callback.locale,
        prior=callback.attempts,
        agent_id=agent.id if agent else None,
        agent=agent.username if agent else "",
    )
    if callback.kind == CallbackKind.ALERT:
        return _alert_leg(session, callback, leg)
    if callback.kind == CallbackKind.SURVEY:
        ticket = session.get(Ticket, callback.ticket_id)
        assert ticket is not None, "checked by _ticket_reopened"
        unit = ticket.unit_text or ""
        return replace(
            leg, source="survey", topic=ticket.kind.value, unit=unit, ticket_number=ticket.number
        )
    return replace(
        leg, source=_source(callback), topic=_topic(callback), unit=_unit(session, callback)
    )


def _alert_leg(session: Session, callback: Callback, leg: CallbackLeg) -> CallbackLeg:
    """What the engineer is told: the order's unit, kind, resident and number."""
    ticket = session.get(Ticket, callback.ticket_id) if callback.ticket_id else None
    if ticket is None:
        return replace(leg, source="general", topic="emergency", emergency="other")
    caller = ticket.caller_number if is_e164(ticket.caller_number) else ""
    return replace(
        leg,
        source="general",
        topic="emergency",
        unit=ticket.unit_text or "",
        ticket_number=ticket.number,
        emergency=EMERGENCY_BY_CATEGORY.get(ticket.category, "other"),
        caller=caller,
    )


def _source(callback: Callback) -> str:
    return SOURCE_BY_KEY_PREFIX.get(callback.dedupe_key.split(":", 1)[0], "general")


def _topic(callback: Callback) -> str:
    return callback.queue if callback.queue in TOPICS else "general"


def _unit(session: Session, callback: Callback) -> str:
    if not callback.call_sid:
        return ""
    unit = session.scalar(select(Call.unit).where(Call.call_sid == callback.call_sid))
    return unit or ""


def _plan(leg: CallbackLeg, agent: User | None, settings: Settings) -> PlannedCall:
    base = settings.public_base_url
    path = outbound_call(leg.kind).path
    return PlannedCall(
        attempt_id=leg.attempt_id,
        to=agent.phone if agent is not None else leg.phone,
        url=f"{base}{path}?{leg.query()}",
        status_callback=f"{base}{STATUS_PATH}?{leg.query()}",
        status=AttemptStatus.DIALING_AGENT if agent else AttemptStatus.DIALING_RESIDENT,
    )


def place_attempt(
    db: Database, telephony: Telephony, settings: Settings, planned: PlannedCall, now: datetime
) -> AttemptStatus:
    """Ring (the claim is committed). Twilio's refusal settles the attempt; it is not retried
    as such: the next try is a new attempt with a new key."""
    try:
        sid = telephony.place_call(planned.to, planned.url, planned.status_callback)
    except TelephonyError as exc:
        # Not the message: Twilio's names the number, which stays in the rows only (R3).
        log.warning("callback attempt %s not placed: Twilio code %s", planned.attempt_id, exc.code)
        status = AttemptStatus.UNKNOWN if exc.maybe_sent else AttemptStatus.FAILED
        with db.session() as session:
            settle(session, planned.attempt_id, status, f"not placed: {exc.message}", now, settings)
        return status
    with db.session() as session:
        session.execute(
            update(CallbackAttempt)
            .where(CallbackAttempt.id == planned.attempt_id, CallbackAttempt.call_sid.is_(None))
            .values(call_sid=sid)
            .execution_options(synchronize_session=False)
        )
    return planned.status


# --- settling: an attempt ends once; the callback moves on -------------------------------------


def settle(
    session: Session,
    attempt_id: int,
    status: AttemptStatus,
    outcome: str,
    at: datetime,
    settings: Settings,
) -> bool:
    """End an attempt (once: a replay finds `ended_at` set), free or rest its agent, and
    decide the callback: done, another try in 15 minutes, or unreachable after three."""
    attempt = locked_attempt(session, attempt_id)
    if attempt is None or attempt.ended_at is not None:
        return False
    attempt.status, attempt.outcome, attempt.ended_at = status, outcome[:200], at
    _release(session, attempt.agent_id, rest=status == AttemptStatus.AGENT_NO_ANSWER)
    callback = attempt.callback
    if callback.status != CallbackStatus.PENDING:
        return True
    if status == AttemptStatus.AGENT_NO_ANSWER:
        # Not the resident's fault: another agent takes it at the next sweep.
        callback.next_attempt_at, callback.outcome = at, outcome[:200]
        return True
    callback.attempts += 1
    if callback.kind == CallbackKind.ALERT:  # one ring per rung: the next rung follows at once
        taken = status == AttemptStatus.CONNECTED
        _finish(callback, CallbackStatus.DONE if taken else CallbackStatus.UNREACHABLE, outcome, at)
        return True
    if status == AttemptStatus.CONNECTED:
        _finish(callback, CallbackStatus.DONE, outcome, at)
        if callback.owner_id is None:
            callback.owner_id = attempt.agent_id
    elif callback.attempts >= MAX_TRIES:
        _finish(callback, CallbackStatus.UNREACHABLE, f"{outcome}; unreachable", at)
    else:
        callback.next_attempt_at = next_opening(settings, at + RETRY_AFTER)
        local = callback.next_attempt_at.astimezone(settings.timezone)
        callback.outcome = f"{outcome}; next try {local:%m-%d %H:%M}"[:200]
    return True


def _finish(callback: Callback, status: CallbackStatus, outcome: str, at: datetime) -> None:
    callback.status, callback.outcome = status, outcome[:200]
    callback.completed_at, callback.next_attempt_at = at, None


def locked_attempt(session: Session, attempt_id: int) -> CallbackAttempt | None:
    # The callback first, as the dispatcher locks it: both orders agree, so no deadlock.
    callback_id = session.scalar(
        select(CallbackAttempt.callback_id).where(CallbackAttempt.id == attempt_id)
    )
    if callback_id is None:
        return None
    session.get(Callback, callback_id, with_for_update=True)
    return session.get(CallbackAttempt, attempt_id, with_for_update=True)


def _release(session: Session, agent_id: int | None, *, rest: bool) -> None:
    """Busy → available when the attempt ends; away when they did not answer, so the desk
    stops ringing them until they say they are back."""
    if agent_id is None:
        return
    held = User.availability == Availability.BUSY
    condition = or_(held, User.availability == Availability.AVAILABLE) if rest else held
    session.execute(
        update(User)
        .where(User.id == agent_id, condition)
        .values(availability=Availability.AWAY if rest else Availability.AVAILABLE)
        .execution_options(synchronize_session=False)
    )


def settle_quiet_attempts(session: Session, now: datetime, settings: Settings) -> int:
    """Attempts that will never report: claimed but never placed (the worker died), or
    placed and never heard of again. `unknown`, never placed again; the next try follows."""
    quiet = select(CallbackAttempt.id, CallbackAttempt.call_sid).where(
        CallbackAttempt.ended_at.is_(None),
        or_(
            and_(
                CallbackAttempt.call_sid.is_(None),
                CallbackAttempt.started_at <= now - UNPLACED_AFTER,
            ),
            CallbackAttempt.started_at <= now - SILENT_AFTER,
        ),
    )
    rows = session.execute(quiet).all()
    for attempt_id, call_sid in rows:
        why = "no result from Twilio" if call_sid else "the worker stopped before placing it"
        log.warning("callback attempt %s: %s; marked unknown", attempt_id, why)
        settle(session, attempt_id, AttemptStatus.UNKNOWN, f"unknown: {why}", now, settings)
    return len(rows)
