"""Callbacks owed, and the worker asked to try one: the only place a callback row is made.

A callback is owed by a message left (R7), a caller who hung up after choosing a purpose, a
virtual-hold caller, an agent's promise at wrap-up, or finished work's return visit (回访).
Each carries a key naming why it is owed, so however often the events that owe it are
replayed there is one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job
from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from ivr.models import Callback, CallbackKind, CallbackStatus
from ivr.queues import DISPATCH_JOB, OUTBOUND_JOB, STILL_TO_RUN, outbound_queue
from ivr.store.db import insert_ignoring_duplicates


@dataclass(frozen=True)
class Owed:
    """A callback owed: why (its key, unique per cause, and its reason), to whom, by when."""

    key: str
    phone: str
    reason: str
    due_at: datetime
    created_at: datetime
    kind: CallbackKind = CallbackKind.RESIDENT
    call_sid: str | None = None
    important: bool = False
    queue: str | None = None  # what it is about: repair, complaint, …
    locale: str | None = None  # the resident's language; the default when unknown
    keeps_place: bool = False  # virtual hold: called back before callers who came after
    recording_url: str | None = None
    next_attempt_at: datetime | None = None  # not tried before this
    ticket_id: int | None = None
    owner_id: int | None = None  # the agent who promised it
    claimed_at: datetime | None = None


def owe_callback(session: Session, owed: Owed) -> bool:
    """One callback per key, however often what owes it is replayed; True if it is new."""
    row: dict[str, Any] = {
        "dedupe_key": owed.key,
        "call_sid": owed.call_sid,
        "phone": owed.phone,
        "reason": owed.reason[:200],
        "important": owed.important,
        "due_at": owed.due_at,
        "status": CallbackStatus.PENDING.value,
        "recording_url": owed.recording_url,
        "attempts": 0,
        "created_at": owed.created_at,
        "kind": owed.kind.value,
        "queue": (owed.queue or "")[:32] or None,
        "keeps_place": owed.keeps_place,
        "next_attempt_at": owed.next_attempt_at,
        "ticket_id": owed.ticket_id,
        "owner_id": owed.owner_id,
        "claimed_at": owed.claimed_at,
        **({"locale": owed.locale} if owed.locale else {}),
    }
    table: Any = Callback.__table__
    return bool(insert_ignoring_duplicates(session, table, [row], "dedupe_key"))


SOONEST_FIRST = (Callback.due_at.asc(), Callback.id.asc())


def overdue_column(now: datetime) -> ColumnElement[bool]:
    """Still owed, and its promised time has passed."""
    return and_(Callback.status == CallbackStatus.PENDING, Callback.due_at < now)


def is_overdue(callback: Callback, now: datetime) -> bool:
    """`overdue_column` in Python, for one row."""
    return callback.status == CallbackStatus.PENDING and callback.due_at < now


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
