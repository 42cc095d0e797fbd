"""Residents' personal data (R3): masked numbers in lists, and the retention purge.

Past the retention period (`RETENTION_DAYS`, default 365) a call keeps what the statistics
need — times, category, outcome, queue, durations, satisfaction, unit — and loses who called
and what they said: numbers are masked, names, recordings and speech text removed, in the
call, its events, its tickets, callbacks, SMS and wrap-up notes. Rows are picked by what
still needs removing, so a purge that stopped half-way, or runs twice, ends in the same state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.core.events import EventKind
from ivr.models import (
    AuditAction,
    AuditEntry,
    Call,
    Callback,
    CallbackStatus,
    CallEventRow,
    MessageStatus,
    OutboundMessage,
    Ticket,
    TicketStatus,
    WrapUp,
)
from ivr.store.db import Database

log = logging.getLogger(__name__)

MASK = "****"
# Every shape mask_number gives, as SQL LIKE patterns (`_` is any one character): the purge
# and the Python check agree on what is already masked, so nothing unmasked is left behind.
MASKED_SHAPES = ("****", "****_", "****__", "___****____", "____****____")
_MASKED_SHAPE = re.compile(
    "|".join(shape.replace("*", r"\*").replace("_", ".") for shape in MASKED_SHAPES), re.DOTALL
)
CHINA_PREFIX = "+86"
PURGE_BATCH = 500  # rows of each table per transaction: short locks while calls come in
PURGE_BATCHES_PER_RUN = 20  # then the job steps aside for other jobs and queues its sequel
SYSTEM_USER = "system"

# What each kind of event says about the caller: fields removed, and numbers masked.
EVENT_FIELDS_REMOVED: dict[str, tuple[str, ...]] = {
    EventKind.CALL_STARTED: ("caller_name",),
    EventKind.SPEECH: ("text",),
    EventKind.DESCRIBED: ("text",),
    EventKind.TRANSCRIPTION: ("text",),
    EventKind.RECORDING: ("recording_url", "recording_sid"),
    EventKind.MESSAGE_RECORDED: ("recording_url", "recording_sid"),
    EventKind.FALLBACK: ("recording_url", "recording_sid"),
    EventKind.TICKET_OPENED: ("desc", "rec", "recurl"),
}
EVENT_NUMBERS_MASKED: dict[str, tuple[str, ...]] = {
    EventKind.CALL_STARTED: ("from", "to"),
    EventKind.TICKET_OPENED: ("caller",),
}
PERSONAL_EVENT_KINDS = tuple(str(kind) for kind in EVENT_FIELDS_REMOVED)


def mask_number(number: str) -> str:
    """138****8000 for +8613800138000: enough to tell callers apart, not to dial them.
    Masking a masked number changes nothing; a number without digits becomes ****."""
    text = number.strip()
    if not text or is_masked(text):
        return text
    if not any(char.isdigit() for char in text):
        return MASK
    national = text.removeprefix(CHINA_PREFIX)
    head = 4 if national.startswith("+") else 3
    if len(national) < head + 5:
        return MASK + national[-2:]
    return national[:head] + MASK + national[-4:]


def is_masked(text: str) -> bool:
    """Whether `text` has one of the shapes mask_number gives (a star alone proves nothing)."""
    return _MASKED_SHAPE.fullmatch(text) is not None


def _masked_in_sql(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    return or_(*(column.like(shape) for shape in MASKED_SHAPES))


def mask_name(name: str | None) -> str:
    """王* for 王丽: the family name only, as a list may show it."""
    if not name:
        return ""
    return name[0] + "*" * min(len(name) - 1, 2)


# --- the retention purge ---------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeRun:
    records: int  # rows changed
    finished: bool  # False: the run stopped at its batch limit and more is left


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def purge_personal_data(
    session: Session, now: datetime, retention_days: int, batch_size: int = PURGE_BATCH
) -> int:
    """Remove personal data older than the retention period from one batch of each table;
    returns how many rows changed. Call it, a transaction each time, until it returns 0."""
    cutoff = retention_cutoff(now, retention_days)
    return sum(purge(session, cutoff, batch_size) for purge in PURGES)


def purge_expired(
    db: Database,
    now: datetime,
    retention_days: int,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> PurgeRun:
    """Batches in their own transactions until nothing is left or `max_batches` ran (by
    default PURGE_BATCH rows a table, PURGE_BATCHES_PER_RUN times); the audit log records
    what was purged."""
    records, finished = 0, False
    for _ in range(max_batches or PURGE_BATCHES_PER_RUN):
        with db.session() as session:
            done = purge_personal_data(session, now, retention_days, batch_size or PURGE_BATCH)
        records += done
        if done == 0:
            finished = True
            break
    if records:
        record_purge(db, now, retention_days, records)
    return PurgeRun(records, finished)


def record_purge(db: Database, now: datetime, retention_days: int, records: int) -> None:
    cutoff = retention_cutoff(now, retention_days).astimezone(UTC)
    log.info("retention purge: %d records before %s", records, cutoff.isoformat())
    with db.session() as session:
        session.add(
            AuditEntry(
                at=now,
                user_id=None,
                username=SYSTEM_USER,
                action=AuditAction.RETENTION_PURGE,
                detail=f"{records} records before {cutoff.isoformat()}"[:200],
                remote_addr="",
            )
        )


def _unmasked(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    return and_(column != "", not_(_masked_in_sql(column)))


def _calls(session: Session, cutoff: datetime, limit: int) -> int:
    personal = or_(
        _unmasked(Call.caller_number),
        _unmasked(Call.called_number),
        Call.caller_name.is_not(None),
        Call.recording_url.is_not(None),
        Call.content != "",
        Call.resident_id.is_not(None),
    )
    calls = session.scalars(
        select(Call).where(Call.started_at < cutoff, personal).order_by(Call.id).limit(limit)
    ).all()
    for call in calls:
        call.caller_number = mask_number(call.caller_number)
        call.called_number = mask_number(call.called_number)
        call.caller_name = call.recording_url = call.resident_id = None
        call.content = ""
    _forget_events(session, [call.call_sid for call in calls])
    return len(calls)


def _forget_events(session: Session, call_sids: Sequence[str]) -> None:
    """The events keep their kind, time and step; a replay after the purge cannot bring
    the caller's number back, because the call_started event no longer holds it."""
    if not call_sids:
        return
    events = session.scalars(
        select(CallEventRow).where(
            CallEventRow.call_sid.in_(call_sids), CallEventRow.kind.in_(PERSONAL_EVENT_KINDS)
        )
    )
    for event in events:
        event.detail = forget_detail(event.kind, event.detail or {})


def forget_detail(kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An event's detail without what identifies the caller or records their words."""
    kept = {
        name: value
        for name, value in detail.items()
        if name not in EVENT_FIELDS_REMOVED.get(kind, ())
    }
    for name in EVENT_NUMBERS_MASKED.get(kind, ()):
        if isinstance(kept.get(name), str):
            kept[name] = mask_number(kept[name])
    return kept


def _tickets(session: Session, cutoff: datetime, limit: int) -> int:
    """Closed tickets only: an order still open needs a number to call back."""
    personal = or_(
        _unmasked(Ticket.caller_number),
        Ticket.resident_id.is_not(None),
        Ticket.description != "",
        Ticket.recording_sid.is_not(None),
        Ticket.recording_url.is_not(None),
        Ticket.transcription.is_not(None),
    )
    still_open = [status for status in TicketStatus if status.is_open]
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.created_at < cutoff, Ticket.status.not_in(still_open), personal)
        .order_by(Ticket.id)
        .limit(limit)
    ).all()
    for ticket in tickets:
        ticket.caller_number = mask_number(ticket.caller_number)
        ticket.description = ""
        ticket.resident_id = ticket.recording_sid = None
        ticket.recording_url = ticket.transcription = None
    return len(tickets)


def _callbacks(session: Session, cutoff: datetime, limit: int) -> int:
    personal = or_(
        _unmasked(Callback.phone),
        Callback.recording_url.is_not(None),
        Callback.transcription.is_not(None),
    )
    tasks = session.scalars(
        select(Callback)
        .where(
            Callback.created_at < cutoff,
            Callback.status != CallbackStatus.PENDING,
            personal,
        )
        .order_by(Callback.id)
        .limit(limit)
    ).all()
    for task in tasks:
        task.phone = mask_number(task.phone)
        task.recording_url = task.transcription = None
    return len(tasks)


def _messages(session: Session, cutoff: datetime, limit: int) -> int:
    in_flight = [MessageStatus.PENDING, MessageStatus.SENDING]
    messages = session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.created_at < cutoff,
            OutboundMessage.status.not_in(in_flight),
            _unmasked(OutboundMessage.to_number),
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
    ).all()
    for message in messages:
        message.to_number = mask_number(message.to_number)
    return len(messages)


def _wrap_up_notes(session: Session, cutoff: datetime, limit: int) -> int:
    notes = session.scalars(
        select(WrapUp)
        .where(WrapUp.created_at < cutoff, WrapUp.notes != "")
        .order_by(WrapUp.id)
        .limit(limit)
    ).all()
    for wrap_up in notes:
        wrap_up.notes = ""
    return len(notes)


PURGES: tuple[Callable[[Session, datetime, int], int], ...] = (
    _calls,
    _tickets,
    _callbacks,
    _messages,
    _wrap_up_notes,
)
