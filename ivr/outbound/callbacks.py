"""Callbacks (R7) and return-visit surveys (回访, R5/R6): which are due, who calls, and what
each attempt ended in.

A callback's `due_at` is the time we promised; it may be tried from `next_attempt_at` (or at
once when that is empty), in office hours only. Resident callbacks ring an agent first and
bridge them to the resident; surveys ring the resident and ask for a rating.

An attempt is claimed first: its row, with an idempotency key naming the callback and the
try, is committed before Twilio is asked to ring. A replayed job finds the try claimed and
rings nobody; a worker that died between the claim and the call leaves a row without a
CallSid, which the sweep marks `unknown` and never places again. What happened on the call
comes back as call-log events from `ivr/voice/outbound.py`, applied here by the worker.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from redis import Redis
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from ivr.calllog.waiting import waiting_callers
from ivr.config import Settings
from ivr.core.callback_prompts import SOURCES, TOPICS
from ivr.core.events import CallEvent, EventKind
from ivr.core.hours import next_opening, office_is_open
from ivr.core.prompts import Catalogue
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
from ivr.queues import DISPATCH_JOB, OUTBOUND_JOB, outbound_queue
from ivr.registry.residents import is_e164
from ivr.store.db import Database, insert_ignoring_duplicates
from ivr.tickets.lifecycle import FollowUps, note_return_visit

log = logging.getLogger(__name__)

MAX_TRIES = 3  # rings of the resident; an agent who does not answer does not use one up
RETRY_AFTER = timedelta(minutes=15)
UNPLACED_AFTER = timedelta(minutes=5)  # claimed, no CallSid: the worker died before placing
SILENT_AFTER = timedelta(hours=2)  # placed, but no result ever came back from Twilio
RESIDENT_RING_S = 30
SURVEYS_PER_SWEEP = 20  # a burst of automated calls is spread over the following minutes

# A job in these states is still going to run: asking again must not add another.
STILL_TO_RUN = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

AGENT_PATH = "/voice/callback/agent"
STATUS_PATH = "/voice/callback/status"
SURVEY_PATH = "/voice/callback/survey"

# How the callback came about (SOURCES), by its key's prefix.
SOURCE_BY_KEY_PREFIX = {"virtual-hold": "asked", "abandoned": "missed", "message": "message"}
IN_FLIGHT = (AttemptStatus.DIALING_AGENT, AttemptStatus.DIALING_RESIDENT)
FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
RATINGS = {"1": "satisfied", "2": "average", "3": "dissatisfied"}


class ClaimedElsewhereError(RuntimeError):
    """Another worker claimed this try (or the agent) first: this one stands down."""


# --- what a placed call's webhooks need, carried in the URLs Twilio signs -------------------


@dataclass(frozen=True)
class CallbackLeg:
    callback_id: int
    attempt_id: int
    kind: CallbackKind
    phone: str  # the resident's
    locale: str  # the resident's
    prior: int = 0  # tries already counted against the resident's three
    source: str = "general"
    topic: str = "general"
    unit: str = ""
    agent_id: int | None = None
    agent: str = ""  # the agent's username, for the call log's handler
    ticket_number: str = ""

    @property
    def is_last_try(self) -> bool:
        return self.prior + 1 >= MAX_TRIES

    def query(self, **extra: str | int) -> str:
        fields: dict[str, str | int] = {
            "cb": self.callback_id,
            "at": self.attempt_id,
            "k": self.kind.value,
            "to": self.phone,
            "lang": self.locale,
            "prior": self.prior,
            "src": self.source,
            "topic": self.topic,
            "ul": self.unit,
            "ag": self.agent_id or "",
            "an": self.agent,
            "t": self.ticket_number,
            **extra,
        }
        return urlencode({key: value for key, value in fields.items() if value != ""})

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallbackLeg:
        """Raises ValueError on anything we would not have written ourselves."""
        phone, agent, number = args.get("to", ""), args.get("ag", ""), args.get("t", "")
        if not is_e164(phone):
            raise ValueError("no resident number")
        if args.get("src", "general") not in (*SOURCES, "survey"):
            raise ValueError("unknown source")
        if args.get("topic", "general") not in TOPICS:
            raise ValueError("unknown topic")
        if (agent and not agent.isdigit()) or (number and not number.isdigit()):
            raise ValueError("malformed agent or ticket number")
        return cls(
            callback_id=_small_int(args.get("cb", "")),
            attempt_id=_small_int(args.get("at", "")),
            kind=CallbackKind(args.get("k", "")),
            phone=phone,
            locale=args.get("lang", "")[:16],
            prior=min(_small_int(args.get("prior", "0")), 100),
            source=args.get("src", "general"),
            topic=args.get("topic", "general"),
            unit=args.get("ul", "")[:64],
            agent_id=int(agent) if agent else None,
            agent=args.get("an", "")[:64],
            ticket_number=number[:16],
        )

    def detail(self) -> dict[str, Any]:
        """What every event of this leg carries, for the worker and the call log."""
        return {
            "cb": self.callback_id,
            "at": self.attempt_id,
            "kind": self.kind.value,
            "phone": self.phone,
            "topic": self.topic,
            "agent_id": self.agent_id,
            "agent": self.agent,
        }


def _small_int(raw: str) -> int:
    if not (raw.isdigit() and len(raw) <= 18):
        raise ValueError(f"not an id: {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class PlannedCall:
    """A claimed attempt, ready for Twilio: who to ring and where Twilio fetches the TwiML."""

    attempt_id: int
    to: str
    url: str
    status_callback: str
    status: AttemptStatus


# --- asking the workers -----------------------------------------------------------------


def enqueue_attempt(redis: Redis, callback_id: int) -> None:
    """Ask a worker to try this callback now (the desk's "call back now").

    The job id names the callback, so a double click while the first job still waits
    enqueues nothing more; the attempt's idempotency key guards against the rest.
    """
    _enqueue_once(redis, f"callback-now-{callback_id}", callback_id, True)


def enqueue_due(redis: Redis, callback_id: int) -> None:
    """The sweep found this callback due: try it if it still is when the job runs."""
    _enqueue_once(redis, f"callback-due-{callback_id}", callback_id, False)


def _enqueue_once(redis: Redis, job_id: str, callback_id: int, on_request: bool) -> None:
    for _ in range(2):  # a second collision means another click enqueued it just now
        try:
            _enqueue_unique(redis, job_id, callback_id, on_request)
            return
        except DuplicateJobError:
            if not _cleared(redis, job_id):
                return  # the earlier job is still to run: asking again adds nothing


def _cleared(redis: Redis, job_id: str) -> bool:
    """Remove an earlier job that will not run again (a failure kept for inspection), so it
    does not block a new try; False when it is still queued, running or scheduled."""
    try:
        earlier = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:  # it finished between the two calls
        return True
    if earlier.get_status(refresh=False) in STILL_TO_RUN:
        return False
    earlier.delete()
    return True


def _enqueue_unique(redis: Redis, job_id: str, callback_id: int, on_request: bool) -> None:
    outbound_queue(redis).enqueue(
        DISPATCH_JOB,
        callback_id,
        on_request=on_request,
        job_id=job_id,
        unique=True,
        **OUTBOUND_JOB,
    )


# --- the sweep: what is due, in which order ------------------------------------------------


def callbacks_to_try(session: Session, now: datetime, settings: Settings) -> list[int]:
    """Every minute: settle attempts that went quiet, then the callbacks to try now, in
    order: those keeping a place in line (virtual hold) first, then important ones, then by
    promised time. Resident callbacks only as many as there are free agents to take them,
    and callers waiting in a queue now come first, except for those who arrived after a
    virtual-hold caller asked to be called back: that caller keeps their place ahead."""
    settle_quiet_attempts(session, now, settings)
    if not office_is_open(settings, now):
        return []
    free = len(free_agents(session))
    joined = sorted(waiting.joined_at for waiting in waiting_callers(session))
    chosen: list[int] = []
    surveys = 0
    for callback in session.scalars(_due(now)):
        if callback.kind == CallbackKind.SURVEY:
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
    if callback.kind == CallbackKind.RESIDENT:
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
    return office_is_open(settings, now) and not waiting


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
    if callback.kind == CallbackKind.SURVEY:
        return AttemptStatus.DIALING_RESIDENT
    return AttemptStatus.DIALING_AGENT


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
    path = AGENT_PATH if agent is not None else SURVEY_PATH
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
    attempt = _locked_attempt(session, attempt_id)
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


def _locked_attempt(session: Session, attempt_id: int) -> CallbackAttempt | None:
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


# --- what the webhooks reported (applied by the call-log worker) -------------------------------

CALLBACK_EVENTS = frozenset(
    {
        EventKind.CALLBACK_LEG,
        EventKind.CALLBACK_AGENT,
        EventKind.CALLBACK_DIALED,
        EventKind.CALLBACK_STATUS,
        EventKind.SURVEY_RATED,
    }
)


@dataclass(frozen=True)
class Reported:
    """One webhook's event, with what the worker needs to act on it."""

    event: CallEvent
    attempt: CallbackAttempt
    settings: Settings
    catalogues: Mapping[str, Catalogue]

    @property
    def at(self) -> datetime:
        return self.event.at

    @property
    def value(self) -> str:
        return str(self.event.detail.get("status") or self.event.detail.get("answer") or "")

    def settle(self, status: AttemptStatus, outcome: str, session: Session) -> bool:
        return settle(session, self.attempt.id, status, outcome, self.at, self.settings)


def follow_callback_event(
    session: Session,
    event: CallEvent,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """Move an attempt on from what its call reported. Order-tolerant and idempotent: each
    step checks the attempt's state, and an ended attempt is never ended again."""
    attempt = _reported_attempt(session, event)
    if attempt is None:
        return FollowUps()
    if attempt.call_sid is None:  # the worker died before it could store the CallSid
        attempt.call_sid = event.call_sid[:64]
    reported = Reported(event, attempt, settings, catalogues)
    return _STEPS[event.kind](session, reported) or FollowUps()


def _reported_attempt(session: Session, event: CallEvent) -> CallbackAttempt | None:
    detail = event.detail
    attempt_id, callback_id = detail.get("at"), detail.get("cb")
    if not isinstance(attempt_id, int) or not isinstance(callback_id, int):
        return None
    attempt = _locked_attempt(session, attempt_id)
    if attempt is None or attempt.callback_id != callback_id:
        log.warning("call %s reports on unknown callback attempt %s", event.call_sid, attempt_id)
        return None
    return attempt


def _leg_answered(session: Session, reported: Reported) -> None:
    """The agent picked up (nothing to do yet), or the resident did: connected."""
    attempt, detail = reported.attempt, reported.event.detail
    if detail.get("leg") == "agent" or attempt.ended_at is not None:
        return
    attempt.status = AttemptStatus.CONNECTED
    if detail.get("resident_sid"):
        attempt.resident_call_sid = str(detail["resident_sid"])[:64]


def _agent_answer(session: Session, reported: Reported) -> None:
    attempt = reported.attempt
    if reported.value == "accepted":
        if attempt.status == AttemptStatus.DIALING_AGENT and attempt.ended_at is None:
            attempt.status = AttemptStatus.DIALING_RESIDENT
        return
    outcome = f"{_agent_name(session, attempt)} did not accept the callback"
    reported.settle(AttemptStatus.AGENT_NO_ANSWER, outcome, session)


def _resident_dialed(session: Session, reported: Reported) -> None:
    status = reported.value
    if status == "completed":
        outcome = f"{_agent_name(session, reported.attempt)} talked with the resident"
        reported.settle(AttemptStatus.CONNECTED, outcome, session)
    else:
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, f"resident: {status}", session)


def _call_ended(session: Session, reported: Reported) -> None:
    """Twilio's final status for the leg we placed: the agent's, or the survey's."""
    status, attempt = reported.value, reported.attempt
    if status not in FINAL_CALL_STATUSES or attempt.ended_at is not None:
        return
    if attempt.callback.kind == CallbackKind.SURVEY:
        _survey_call_ended(session, reported, status)
    elif attempt.status == AttemptStatus.DIALING_AGENT:
        name = _agent_name(session, attempt)
        did = (
            "did not accept the callback" if status == "completed" else f"did not answer ({status})"
        )
        reported.settle(AttemptStatus.AGENT_NO_ANSWER, f"{name} {did}", session)
    # The <Dial> result comes first and settles these; in case it was lost on the way:
    elif attempt.status == AttemptStatus.CONNECTED:
        reported.settle(AttemptStatus.CONNECTED, "talked with the resident", session)
    else:  # the whisper never played: the resident did not pick up before the call ended
        outcome = "resident: not reached before the agent's call ended"
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, outcome, session)


def _survey_call_ended(session: Session, reported: Reported, status: str) -> None:
    if status == "completed":
        outcome = "return visit: answered, no rating given"
        reported.settle(AttemptStatus.CONNECTED, outcome, session)
    else:
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, f"resident: {status}", session)


def _survey_rated(session: Session, reported: Reported) -> FollowUps:
    """The return visit's answer goes on the ticket's log; dissatisfied reopens and escalates."""
    rating = str(reported.event.detail.get("rating") or "")
    label = RATINGS.get(rating)
    callback = reported.attempt.callback
    outcome = f"return visit: {label} ({rating})" if label else "return visit: no rating given"
    reported.settle(AttemptStatus.CONNECTED, outcome, session)
    if callback.status == CallbackStatus.DONE:
        callback.outcome = outcome  # the call's end may have been applied first
    ticket = (
        session.get(Ticket, callback.ticket_id, with_for_update=True)
        if callback.ticket_id
        else None
    )
    if ticket is None or label is None:
        return FollowUps()
    return note_return_visit(
        session,
        ticket,
        callback.id,
        int(rating),
        reported.at,
        reported.settings,
        reported.catalogues,
    )


def _agent_name(session: Session, attempt: CallbackAttempt) -> str:
    name = session.scalar(select(User.username).where(User.id == attempt.agent_id))
    return f"agent {name}" if name else "the agent"


_STEPS: dict[EventKind, Callable[[Session, Reported], FollowUps | None]] = {
    EventKind.CALLBACK_LEG: _leg_answered,
    EventKind.CALLBACK_AGENT: _agent_answer,
    EventKind.CALLBACK_DIALED: _resident_dialed,
    EventKind.CALLBACK_STATUS: _call_ended,
    EventKind.SURVEY_RATED: _survey_rated,
}
