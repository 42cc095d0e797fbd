"""Taking a call-log job's events in, each on its own merits: one bad event never loses a call.

The events are cleaned once more (a job may come from the spool, or from an older release,
whatever the webhooks do today), then stored in one savepoint. If the database or our code
refuses the batch, each event gets a savepoint of its own; an event that still cannot be
stored is parked as a dead letter with the reason, and the rest of the call is kept. Not
reaching the database is nobody's event's fault: those errors fail the job, and RQ runs it
again. Replays converge: events, follow-ups and dead letters are all keyed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from ivr.calllog.write import CALLS_HELD, hold_calls, record_events
from ivr.config import Settings
from ivr.core.events import CallEvent, plain_text
from ivr.core.prompts import Catalogue
from ivr.intake.follow_up import follow_up_events
from ivr.models import DeadLetter
from ivr.store.db import insert_ignoring_duplicates
from ivr.tickets.lifecycle import FollowUps

log = logging.getLogger(__name__)

R = TypeVar("R")

SOURCE = "record_call_events"
# The database is down, busy or locked: try the whole job again later.
UNREACHABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
MAX_EVENT_CHARS = 20_000
MAX_MESSAGE_CHARS = 500


@dataclass
class Intake:
    """What a job took in: events newly stored, events parked, and what to send after."""

    added: int = 0
    parked: int = 0
    follow: FollowUps = field(default_factory=FollowUps)


@dataclass(frozen=True)
class Arrival:
    """One item of a job's payload: as it came, and as an event when it reads as one."""

    raw: Any
    event: CallEvent | None
    unreadable: Exception | None = None


@dataclass(frozen=True)
class Refused:
    error: Exception


def take_in(
    session: Session,
    payload: Sequence[Any],
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    now: datetime,
) -> Intake:
    """Store a job's events; whatever cannot be stored becomes a dead letter."""
    arrivals = [arrival(item) for item in payload]
    intake = Intake()
    for item in arrivals:
        if item.unreadable is not None:
            intake.parked += park(session, item, item.unreadable, now)
    readable = [item for item in arrivals if item.event is not None]
    events = [item.event for item in readable if item.event is not None]

    def store_all() -> tuple[int, FollowUps]:
        return record_events(session, events), follow_up_events(
            session, events, settings, catalogues
        )

    # Outside the savepoint, so the calls stay held if the batch falls back to one by one.
    hold_calls(session, [event.call_sid for event in events])
    together = attempt(session, store_all)
    if not isinstance(together, Refused):
        intake.added, intake.follow = together
        return intake
    log.warning("call-log batch refused (%s); storing its events one by one", together.error)
    stored = [item for item in readable if _record_one(session, item, intake, now)]
    for item in stored:
        _follow_one(session, item, intake, settings, catalogues, now)
    return intake


def arrival(raw: Any) -> Arrival:
    try:
        return Arrival(raw, CallEvent.from_dict(raw).storable())
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return Arrival(raw, None, error)


def attempt(session: Session, work: Callable[[], R]) -> R | Refused:
    """`work` in a savepoint: its result, or why it was refused (and rolled back)."""
    try:
        with session.begin_nested():
            return work()
    except UNREACHABLE:
        raise
    except Exception as error:
        # Rolled back: a call held for the follow-ups may no longer be a row.
        session.info.pop(CALLS_HELD, None)
        return Refused(error)


def _record_one(session: Session, item: Arrival, intake: Intake, now: datetime) -> bool:
    assert item.event is not None
    event = item.event
    added = attempt(session, lambda: record_events(session, [event]))
    if isinstance(added, Refused):
        intake.parked += park(session, item, added.error, now)
        return False
    intake.added += added
    return True


def _follow_one(
    session: Session,
    item: Arrival,
    intake: Intake,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    now: datetime,
) -> None:
    """The event is stored; what it sets in motion may still fail, and is parked apart."""
    assert item.event is not None
    event = item.event
    done = attempt(session, lambda: follow_up_events(session, [event], settings, catalogues))
    if isinstance(done, Refused):
        intake.parked += park(session, item, done.error, now, step="follow-up")
        return
    intake.follow.add(done)


# --- dead letters ---------------------------------------------------------------------------


def park(session: Session, item: Arrival, error: Exception, now: datetime, step: str = "") -> int:
    """Keep an event the call log refused, once per event and step; returns 1 if new."""
    letter = dead_letter(item, error, now, step)
    log.error(
        "call-log event %r parked as a dead letter: %s", letter["event_key"], letter["error_class"]
    )
    table = DeadLetter.__table__
    added = attempt(
        session,
        lambda: insert_ignoring_duplicates(session, table, [letter], "event_key"),  # type: ignore[arg-type]
    )
    if isinstance(added, Refused):  # nothing is left to try: say so where someone will look
        log.error("dead letter %r could not be kept: %r", letter["event_key"], added.error)
        return 0
    return added


def dead_letter(item: Arrival, error: Exception, now: datetime, step: str = "") -> dict[str, Any]:
    """The dead letter's row, storable whatever the event held: the last place it can go."""
    text = event_text(item.raw)
    key = item.event.dedupe_key if item.event else "unreadable:" + _digest(text)
    sid = item.event.call_sid if item.event else _raw_call_sid(item.raw)
    return {
        "event_key": plain_text(f"{step}:{key}" if step else key, 200),
        "parked_at": now,
        "source": f"{SOURCE} {step}".strip()[:64],
        "call_sid": plain_text(sid, 64),
        "event": text,
        "error_class": error_class(error),
        "error_message": error_message(error),
        "resolved": False,
    }


def event_text(raw: Any) -> str:
    """The event as JSON text anyone can read and every backend stores: NUL and other
    controls escaped by JSON, unpaired surrogates written as escapes."""
    text = json.dumps(raw, ensure_ascii=False, default=repr)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:MAX_EVENT_CHARS]


def error_class(error: Exception) -> str:
    """The exception's class, and the driver's beneath a SQLAlchemy one."""
    name = type(error).__name__
    cause = error.orig if isinstance(error, StatementError) else None
    return (f"{name} ({type(cause).__name__})" if cause is not None else name)[:128]


def error_message(error: Exception) -> str:
    """The first line of the reason only: SQLAlchemy adds the statement and its parameters,
    and drivers add a DETAIL with the row, which would copy personal data here."""
    cause = error.orig if isinstance(error, StatementError) else None
    lines = str(cause if cause is not None else error).strip().splitlines()
    return plain_text(lines[0] if lines else "", MAX_MESSAGE_CHARS)


def _raw_call_sid(raw: Any) -> str:
    sid = raw.get("call_sid") if isinstance(raw, dict) else None
    return plain_text(str(sid), 64) if sid is not None else ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
