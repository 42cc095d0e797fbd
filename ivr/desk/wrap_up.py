"""The wrap-up after a call an agent took: how it ended, notes, and what it sets going: a
new repair order or complaint (numbered, timed and escalated like the IVR's), a note on or
the resolution of one of the caller's open tickets, or a callback the agent promised.

One wrap-up per call and agent: submitting again updates it, and never opens a second
ticket, writes the same ticket note twice or promises a second callback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ivr.core.events import CallEvent, EventKind
from ivr.core.hours import next_opening
from ivr.desk.take import Agent
from ivr.desk.waiting import Person, TicketBrief, open_tickets_for, people_for
from ivr.models import (
    Call,
    Callback,
    CallbackStatus,
    Disposition,
    Ticket,
    TicketKind,
    WrapUp,
)
from ivr.outbound.schedule import Owed, owe_callback
from ivr.services import Services
from ivr.tickets.lifecycle import (
    FollowUps,
    log_on_ticket,
    open_ticket,
    resolve_ticket,
    service_levels,
)

MAX_NOTES = 2000
MAX_DESCRIPTION = 1000
LATEST_CALLBACK = timedelta(days=30)
DISPOSITION_TICKETS = {
    Disposition.REPAIR_ORDER: TicketKind.REPAIR,
    Disposition.COMPLAINT: TicketKind.COMPLAINT,
}


class TicketAction(StrEnum):
    NONE = "none"
    CREATE = "create"
    UPDATE = "update"


@dataclass(frozen=True)
class TicketChoice:
    action: TicketAction = TicketAction.NONE
    kind: TicketKind | None = None
    category: str = ""
    description: str = ""
    emergency: bool = False
    ticket_id: int | None = None
    resolve: bool = False


@dataclass(frozen=True)
class WrapUpEntry:
    disposition: Disposition
    notes: str
    ticket: TicketChoice = field(default_factory=TicketChoice)
    callback_due: datetime | None = None


class WrapUpInvalidError(ValueError):
    """The form cannot be saved as it is; `problems` maps each field to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def categories(kind: TicketKind) -> list[str]:
    levels = service_levels()
    chosen = levels.repair_categories if kind == TicketKind.REPAIR else levels.complaint_categories
    return list(chosen)


# --- reading the form -----------------------------------------------------------------------


@dataclass(frozen=True)
class FormRules:
    """What the form is checked against: the hotline's zone, now, and the tickets
    (by id and kind) the caller may have updated."""

    zone: ZoneInfo
    now: datetime
    updatable: Mapping[int, TicketKind]
    can_call_back: bool


def read_entry(form: Mapping[str, str], rules: FormRules) -> WrapUpEntry:
    """The wrap-up the form describes; raises WrapUpInvalidError listing every problem."""
    problems: dict[str, str] = {}
    disposition = _disposition(form.get("disposition", ""), problems)
    notes = form.get("notes", "").strip()
    if len(notes) > MAX_NOTES:
        problems["notes"] = f"备注最多{MAX_NOTES}字 · Notes are limited to {MAX_NOTES} characters"
    ticket = _ticket_choice(form, rules.updatable, problems)
    due = _callback_due(form.get("callback_due", ""), rules, disposition, problems)
    if disposition is not None and "ticket" not in problems:
        _check_ticket_matches(disposition, ticket, rules.updatable, problems)
    if problems or disposition is None:
        raise WrapUpInvalidError(problems)
    return WrapUpEntry(disposition, notes, ticket, due)


def _disposition(raw: str, problems: dict[str, str]) -> Disposition | None:
    try:
        return Disposition(raw)
    except ValueError:
        problems["disposition"] = "请选择处理结果 · Choose how the call ended"
        return None


def _ticket_choice(
    form: Mapping[str, str], updatable: Mapping[int, TicketKind], problems: dict[str, str]
) -> TicketChoice:
    try:
        action = TicketAction(form.get("ticket_action") or TicketAction.NONE)
    except ValueError:
        problems["ticket"] = "工单操作无效 · Unknown ticket action"
        return TicketChoice()
    if action == TicketAction.CREATE:
        return _new_ticket_choice(form, problems)
    if action == TicketAction.UPDATE:
        raw = form.get("ticket_id", "")
        if not raw.isdigit() or int(raw) not in updatable:
            problems["ticket"] = "请选择来电人的未完成工单 · Pick one of the caller's open tickets"
            return TicketChoice(action)
        return TicketChoice(action, ticket_id=int(raw), resolve=form.get("resolve") == "1")
    return TicketChoice()


def _new_ticket_choice(form: Mapping[str, str], problems: dict[str, str]) -> TicketChoice:
    try:
        kind = TicketKind(form.get("ticket_kind", ""))
    except ValueError:
        problems["ticket"] = "请选择工单类型（报修或投诉）· Choose repair or complaint"
        return TicketChoice(TicketAction.CREATE)
    category = form.get("category", "")
    description = form.get("description", "").strip()
    if category not in categories(kind):
        problems["category"] = "请选择工单类别 · Choose a category"
    if not description or len(description) > MAX_DESCRIPTION:
        problems["description"] = (
            f"请填写问题描述（最多{MAX_DESCRIPTION}字）"
            f" · Describe the problem (up to {MAX_DESCRIPTION} characters)"
        )
    emergency = kind == TicketKind.REPAIR and form.get("emergency") == "1"
    return TicketChoice(TicketAction.CREATE, kind, category, description, emergency)


def _check_ticket_matches(
    disposition: Disposition,
    ticket: TicketChoice,
    updatable: Mapping[int, TicketKind],
    problems: dict[str, str],
) -> None:
    """A repair order or a complaint needs its ticket: a new one or one of the caller's."""
    needed = DISPOSITION_TICKETS.get(disposition)
    if needed is None:
        return
    kind = ticket.kind if ticket.action == TicketAction.CREATE else None
    if ticket.action == TicketAction.UPDATE and ticket.ticket_id is not None:
        kind = updatable.get(ticket.ticket_id)
    if kind != needed:
        label = "报修单 · a repair order" if needed == TicketKind.REPAIR else "投诉单 · a complaint"
        problems["ticket"] = f"请新建或选择{label}"


def _callback_due(
    raw: str, rules: FormRules, disposition: Disposition | None, problems: dict[str, str]
) -> datetime | None:
    if disposition != Disposition.CALLBACK_NEEDED:
        return None
    if not rules.can_call_back:
        problems["callback_due"] = "来电号码未知，无法回电 · The caller's number is unknown"
        return None
    if not raw.strip():
        return None  # the next office opening
    try:
        due = datetime.fromisoformat(raw.strip()).replace(tzinfo=rules.zone)
    except ValueError:
        problems["callback_due"] = "回电时间格式不正确 · The callback time is not a date and time"
        return None
    if not rules.now - timedelta(minutes=1) <= due <= rules.now + LATEST_CALLBACK:
        problems["callback_due"] = "回电时间须在今后30天内 · Choose a time in the next 30 days"
    return due


# --- saving ---------------------------------------------------------------------------------


def existing_wrap_up(session: Session, call_sid: str, agent_id: int) -> WrapUp | None:
    return session.scalars(
        select(WrapUp).where(and_(WrapUp.call_sid == call_sid, WrapUp.agent_id == agent_id))
    ).one_or_none()


def save_wrap_up(
    session: Session,
    found: Services,
    call: Call,
    person: Person,
    agent: Agent,
    entry: WrapUpEntry,
) -> FollowUps:
    """Store the wrap-up and what it sets going; the caller commits, then hands on the
    SMS and escalations returned."""
    now = found.clock.now()
    follow = FollowUps()
    ticket = _act_on_ticket(session, found, call, person, agent, entry, follow)
    callback = _promise_callback(session, found, call, agent, entry, ticket)
    row = existing_wrap_up(session, call.call_sid, agent.id)
    if row is None:
        row = WrapUp(call_sid=call.call_sid, agent_id=agent.id, created_at=now)
        session.add(row)
    row.disposition, row.notes, row.updated_at = entry.disposition, entry.notes, now
    row.ticket_id = ticket.id if ticket else row.ticket_id
    row.callback_id = callback.id if callback else None
    session.flush()
    return follow


def _act_on_ticket(
    session: Session,
    found: Services,
    call: Call,
    person: Person,
    agent: Agent,
    entry: WrapUpEntry,
    follow: FollowUps,
) -> Ticket | None:
    choice = entry.ticket
    if choice.action == TicketAction.CREATE and choice.kind is not None:
        return _open_from_desk(session, found, call, person, choice, choice.kind, follow)
    if choice.action == TicketAction.UPDATE and choice.ticket_id is not None:
        ticket = session.get(Ticket, choice.ticket_id)
        if ticket is not None:
            _note_on_ticket(session, found, call, agent, entry, ticket)
        return ticket
    return None


def _open_from_desk(
    session: Session,
    found: Services,
    call: Call,
    person: Person,
    choice: TicketChoice,
    kind: TicketKind,
    follow: FollowUps,
) -> Ticket:
    """Through the IVR's own path (open_ticket): the same numbers, deadlines, SMS and
    escalations; at most one ticket of each kind per call, however often this runs."""
    now = found.clock.now()
    numbers = found.numbers
    number = (
        numbers.for_call(call.call_sid, kind.value, now.astimezone(found.settings.timezone))
        if numbers
        else None
    )
    detail = {
        "kind": kind.value,
        "number": number or "",  # none in hand: numbered from a fresh lease as it is stored
        "cat": choice.category,
        "emg": "1" if choice.emergency else "",
        "unit": str(person.unit_id or ""),
        "who": str(person.resident_id or ""),
        "ul": call.unit or person.unit or "",
        "desc": choice.description,
        "caller": call.caller_number,
        "locale": call.locale,
    }
    event = CallEvent(call.call_sid, EventKind.TICKET_OPENED, now, node="desk", detail=detail)
    opened = open_ticket(session, event, found.settings, found.engine.catalogues)
    follow.sms += opened.sms
    follow.escalations += opened.escalations
    return session.scalars(
        select(Ticket).where(and_(Ticket.call_sid == call.call_sid, Ticket.kind == kind))
    ).one()


def _note_on_ticket(
    session: Session, found: Services, call: Call, agent: Agent, entry: WrapUpEntry, ticket: Ticket
) -> None:
    now = found.clock.now()
    if entry.notes:
        # Keyed by the text: the same note submitted twice is written once.
        digest = hashlib.sha256(entry.notes.encode()).hexdigest()[:16]
        key = f"desk-note:{call.call_sid}:{agent.id}:{digest}"
        log_on_ticket(
            session,
            ticket,
            key,
            now,
            "desk_note",
            by=agent.name,
            notes=entry.notes,
            call_sid=call.call_sid,
        )
    if entry.ticket.resolve:
        resolve_ticket(session, ticket, now, by=agent.name)


def _promise_callback(
    session: Session,
    found: Services,
    call: Call,
    agent: Agent,
    entry: WrapUpEntry,
    ticket: Ticket | None,
) -> Callback | None:
    """ "Callback needed": a callback the agent owns, due when they said or at the next
    opening; a later wrap-up without it withdraws a promise still pending."""
    key = f"promised:{call.call_sid}:{agent.id}"
    promised = _callback_by_key(session, key)
    if entry.disposition != Disposition.CALLBACK_NEEDED:
        if promised is not None and promised.status == CallbackStatus.PENDING:
            promised.status = CallbackStatus.CANCELLED
        return None
    now = found.clock.now()
    due = entry.callback_due or next_opening(found.settings, now)
    if promised is None:
        _add_promise(session, call, agent, key, due, now)
        promised = _callback_by_key(session, key)
    assert promised is not None, "inserted just now, or by a concurrent submit"
    if promised.status == CallbackStatus.CANCELLED:
        promised.status = CallbackStatus.PENDING
    promised.due_at = due
    promised.ticket_id = ticket.id if ticket else promised.ticket_id
    return promised


def _callback_by_key(session: Session, key: str) -> Callback | None:
    return session.scalars(select(Callback).where(Callback.dedupe_key == key)).one_or_none()


def _add_promise(
    session: Session, call: Call, agent: Agent, key: str, due: datetime, now: datetime
) -> None:
    owed = Owed(
        key=key,
        call_sid=call.call_sid,
        phone=call.caller_number,
        reason=f"callback promised by {agent.name}",
        due_at=due,
        created_at=now,
        queue=call.queue,
        locale=call.locale,
        owner_id=agent.id,
        claimed_at=now,
    )
    owe_callback(session, owed)


def updatable_tickets(
    session: Session, open_tickets: Sequence[TicketBrief], earlier: WrapUp | None
) -> dict[int, TicketKind]:
    """The caller's open tickets, plus the one an earlier wrap-up touched (it may be
    resolved by now: submitting that wrap-up again must still pass)."""
    allowed = {ticket.id: TicketKind(ticket.kind) for ticket in open_tickets}
    touched = session.get(Ticket, earlier.ticket_id) if earlier and earlier.ticket_id else None
    if touched is not None:
        allowed.setdefault(touched.id, touched.kind)
    return allowed


@dataclass(frozen=True)
class WrapUpSubject:
    """A call to wrap up: who called, the caller's tickets and any earlier wrap-up by
    this agent, and what the form is checked against."""

    call: Call
    person: Person
    rules: FormRules
    earlier: WrapUp | None
    ticket_labels: Mapping[int, tuple[str, str, str]]  # id -> number, kind, status


def load_subject(
    session: Session, found: Services, call_sid: str, agent_id: int
) -> WrapUpSubject | None:
    call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
    if call is None:
        return None
    earlier = existing_wrap_up(session, call_sid, agent_id)
    person = people_for(session, [call])[call_sid]
    tickets = open_tickets_for(session, [call], {call_sid: person})[call_sid]
    updatable = updatable_tickets(session, tickets, earlier)
    rules = FormRules(
        zone=found.settings.timezone,
        now=found.clock.now(),
        updatable=updatable,
        can_call_back=call.caller_number.startswith("+"),
    )
    labels = {
        ticket.id: (ticket.number, ticket.kind.value, ticket.status.value)
        for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(list(updatable))))
    }
    return WrapUpSubject(call, person, rules, earlier, labels)
