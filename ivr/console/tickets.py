"""The console's tickets (R5, R6): repair orders and complaints with filters, their deadlines
and where they stand on the escalation ladder; and one ticket with its history.

Lists and the detail page show callers' numbers masked (138****8000); the full number is on
the detail page of the call that opened the ticket, where every view is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ivr.console.board import display_helpers
from ivr.console.home import add_to_navigation, console, page_asked, page_links
from ivr.core import labels
from ivr.core.labels import Label
from ivr.models import Ticket, TicketLog, TicketStatus
from ivr.registry.privacy import mask_number
from ivr.reporting.monthly import mask_phones_in
from ivr.services import services
from ivr.store.filters import FilterError, KeysetPage
from ivr.tickets.lifecycle import service_levels
from ivr.tickets.query import (
    AWAITING_VISIT,
    SlaState,
    TicketListFilters,
    find_ticket,
    next_deadline,
    sla_state,
    ticket_page,
    ticket_unit_label,
)
from ivr.web.access import CONSOLE_ROLES, require_role

SLA_LABELS: dict[SlaState, Label] = {state: labels.SLA_STATES[state] for state in SlaState}
PRIORITY_LABELS = labels.TICKET_PRIORITIES
LOG_LABELS = labels.TICKET_LOG
DETAIL_NAMES: dict[str, str] = {
    "level": "级别",
    "role": "负责人",
    "due": "时限",
    "deadline": "时限",
    "by": "处理人",
    "notes": "备注",
    "reason": "原因",
    "rating": "评价",
    "satisfaction": "满意度",
    "number": "单号",
}
DEADLINE_STATES = labels.DEADLINE_STATES

add_to_navigation("console.tickets", "工单", "Tickets")


# --- what a row shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRow:
    id: int
    number: str
    created_at: datetime
    kind: str
    category: str
    priority: str
    status: str
    unit: str
    caller: str  # masked
    deadline: datetime | None
    sla: SlaState | None
    level: int
    level_role: str


def ticket_row(ticket: Ticket, now: datetime) -> TicketRow:
    return TicketRow(
        id=ticket.id,
        number=ticket.number,
        created_at=ticket.created_at,
        kind=ticket.kind.value,
        category=ticket.category,
        priority=ticket.priority.value,
        status=ticket.status.value,
        unit=ticket_unit_label(ticket) or "",
        caller=mask_number(ticket.caller_number),
        deadline=next_deadline(ticket) if ticket.status.is_open else ticket.resolve_by,
        sla=sla_state(ticket, now),
        level=ticket.escalation_level,
        level_role=service_levels().complaint_levels.get(ticket.escalation_level, ""),
    )


# --- the list page --------------------------------------------------------------------------


def choices() -> dict[str, Any]:
    return {
        "kind_choices": labels.TICKET_KINDS,
        "status_choices": labels.TICKET_STATUSES,
        "priority_choices": PRIORITY_LABELS,
        "category_choices": labels.TICKET_CATEGORIES,
        "sla_choices": {state.value: pair for state, pair in SLA_LABELS.items()},
        "level_choices": {str(n): (role, "") for n, role in complaint_levels().items()},
    }


def complaint_levels() -> Mapping[int, str]:
    return service_levels().complaint_levels


def render_tickets(
    rows: Sequence[TicketRow], page: KeysetPage[Ticket] | None, problem: str = ""
) -> str:
    return render_template(
        "console_tickets.html",
        rows=rows,
        problem=problem,
        chosen=request.args,
        sla_labels=SLA_LABELS,
        priority_labels=PRIORITY_LABELS,
        **choices(),
        **page_links("console.tickets", page),
        **display_helpers(services().settings.timezone),
    )


@console.get("/tickets")
@require_role(*CONSOLE_ROLES)
def tickets() -> ResponseReturnValue:
    found = services()
    now = found.clock.now()
    try:
        filters = TicketListFilters.from_args(request.args, found.settings.timezone)
        older, newer = page_asked()
    except FilterError as problem:
        return render_tickets([], None, str(problem)), 400
    with found.db.reader() as session:
        page = ticket_page(session, filters, now, older, newer)
        rows = [ticket_row(ticket, now) for ticket in page.rows]
    return render_tickets(rows, page)


# --- one ticket -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineLine:
    name: Label
    due: datetime | None
    done: datetime | None
    state: str  # a key of DEADLINE_STATES


@dataclass(frozen=True)
class LogLine:
    at: datetime
    kind: str
    details: list[tuple[str, str]]
    call_sid: str | None


def late_state(due: datetime | None, done: datetime | None, now: datetime) -> str:
    """Kept, missed, or still to come, for a promise that ends with `done`."""
    if due is None:
        return "pending"
    if done is not None:
        return "met" if done <= due else "missed"
    return "missed" if now > due else "pending"


def stage_state(due: datetime | None, at_this_stage: bool, now: datetime) -> str:
    """A step the ticket has no timestamp for: judged while the ticket still waits for it."""
    if not at_this_stage:
        return "passed"
    return "missed" if due is not None and now > due else "pending"


def visited_back(ticket: Ticket) -> datetime | None:
    visits = [entry.at for entry in ticket.log if entry.kind == "return_visit"]
    return visits[0] if visits else None


def deadlines(ticket: Ticket, now: datetime) -> list[DeadlineLine]:
    """R5/R6 promises, in the order they fall."""
    lines = [
        DeadlineLine(
            ("派工", "Dispatch"),
            ticket.dispatch_by,
            None,
            stage_state(ticket.dispatch_by, ticket.status == TicketStatus.OPEN, now),
        ),
        DeadlineLine(
            ("到场", "On site"),
            ticket.on_site_by,
            None,
            stage_state(ticket.on_site_by, ticket.status in AWAITING_VISIT, now),
        ),
        DeadlineLine(
            ("完成", "Resolved"),
            ticket.resolve_by,
            ticket.resolved_at,
            late_state(ticket.resolve_by, ticket.resolved_at, now),
        ),
        DeadlineLine(
            ("回访", "Return visit"),
            ticket.return_visit_due,
            visited_back(ticket),
            late_state(ticket.return_visit_due, visited_back(ticket), now),
        ),
    ]
    return [line for line in lines if line.due is not None]


def detail_text(value: Any, zone: ZoneInfo) -> str:
    """A log entry's value as a person reads it: times in the hotline's zone, numbers masked."""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return mask_phones_in(text)
    if moment.tzinfo is None:
        return mask_phones_in(text)
    return f"{moment.astimezone(zone):%m-%d %H:%M}"


def log_line(entry: TicketLog, zone: ZoneInfo) -> LogLine:
    detail = entry.detail or {}
    shown = [
        (DETAIL_NAMES.get(key, key), detail_text(value, zone))
        for key, value in detail.items()
        if key != "call_sid" and value not in (None, "")
    ]
    call_sid = detail.get("call_sid")
    return LogLine(entry.at, entry.kind, shown, str(call_sid) if call_sid else None)


@dataclass(frozen=True)
class TicketRecord:
    ticket: Ticket
    row: TicketRow
    description: str
    transcription: str
    deadlines: list[DeadlineLine]
    history: list[LogLine]


def ticket_record(session: Session, key: str, now: datetime, zone: ZoneInfo) -> TicketRecord | None:
    ticket = find_ticket(session, key)
    if ticket is None:
        return None
    return TicketRecord(
        ticket=ticket,
        row=ticket_row(ticket, now),
        description=mask_phones_in(ticket.description or ""),
        transcription=mask_phones_in(ticket.transcription or ""),
        deadlines=deadlines(ticket, now),
        history=[log_line(entry, zone) for entry in ticket.log],
    )


@console.get("/tickets/<key>")
@require_role(*CONSOLE_ROLES)
def ticket_detail(key: str) -> ResponseReturnValue:
    found = services()
    zone = found.settings.timezone
    helpers = display_helpers(zone)
    with found.db.reader() as session:
        record = ticket_record(session, key, found.clock.now(), zone)
    if record is None:
        return render_template("console_tickets_missing.html", key=key, **helpers), 404
    return render_template(
        "console_tickets_detail.html",
        record=record,
        levels=complaint_levels(),
        sla_labels=SLA_LABELS,
        priority_labels=PRIORITY_LABELS,
        log_labels=LOG_LABELS,
        deadline_states=DEADLINE_STATES,
        **helpers,
    )
