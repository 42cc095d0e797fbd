"""The console's tickets (R5, R6): repair orders and complaints with filters, their deadlines
and where they stand on the escalation ladder; and one ticket with its history.

Lists and the detail page show callers' numbers masked (138****8000); the full number is on
the detail page of the call that opened the ticket, where every view is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ivr.console.board import display_helpers
from ivr.console.home import add_to_navigation, console, page_asked, page_links
from ivr.core import labels
from ivr.core.labels import Label
from ivr.models import Ticket, TicketLog, TicketStatus
from ivr.registry.privacy import mask_number
from ivr.reporting.monthly import mask_phones_in
from ivr.reporting.order_form import order_form_pdf
from ivr.services import services
from ivr.store.filters import FilterError, KeysetPage
from ivr.tickets.lifecycle import AWAITING_VISIT, hand_on, next_deadline, service_levels
from ivr.tickets.query import (
    SlaState,
    TicketListFilters,
    find_ticket,
    sla_state,
    ticket_page,
    ticket_unit_label,
)
from ivr.tickets.workflow import (
    Actor,
    Moving,
    Step,
    StepError,
    default_technician,
    move_ticket,
    open_orders_by_technician,
    step_names,
    technicians,
)
from ivr.web.access import CONSOLE_ROLES, current_staff, require_role

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
    "technician": "维修人员",
    "before": "原维修人员",
    "materials": "用料",
    "fee": "收费（元）",
    "to": "通知",
}
DEADLINE_STATES = labels.DEADLINE_STATES
WAITING_FOR_DISPATCH = (TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED)

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
    # Each promise is kept or missed by the moment it really happened (dispatched, arrived,
    # done); a ticket from before those stamps is judged by where it stands.
    lines = [
        DeadlineLine(
            ("派工", "Dispatch"),
            ticket.dispatch_by,
            ticket.dispatched_at,
            late_state(ticket.dispatch_by, ticket.dispatched_at, now)
            if ticket.dispatched_at
            else stage_state(ticket.dispatch_by, ticket.status in WAITING_FOR_DISPATCH, now),
        ),
        DeadlineLine(
            ("到场", "On site"),
            ticket.on_site_by,
            ticket.on_site_at,
            late_state(ticket.on_site_by, ticket.on_site_at, now)
            if ticket.on_site_at
            else stage_state(ticket.on_site_by, ticket.status in AWAITING_VISIT, now),
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


NOT_PERSONAL = frozenset({"number", "fee", "technician", "before", "by"})
# Said by the rating beside them, in words: the log keeps the English word for machines.
NOT_SHOWN = frozenset({"call_sid", "satisfaction"})


def detail_value(key: str, value: Any, zone: ZoneInfo) -> str:
    """A ticket number or a fee is no phone number, so never masked; a rating in words."""
    if key == "rating" and isinstance(value, int):
        return labels.RATINGS.get(value, (str(value), ""))[0]
    return str(value) if key in NOT_PERSONAL else detail_text(value, zone)


def log_line(entry: TicketLog, zone: ZoneInfo) -> LogLine:
    detail = entry.detail or {}
    shown = [
        (DETAIL_NAMES.get(key, key), detail_value(key, value, zone))
        for key, value in detail.items()
        if key not in NOT_SHOWN and value not in (None, "")
    ]
    call_sid = detail.get("call_sid")
    return LogLine(entry.at, entry.kind, shown, str(call_sid) if call_sid else None)


@dataclass(frozen=True)
class Crew:
    """A technician as the dispatch form offers them: their trades and how busy they are."""

    username: str
    name: str
    trades: str
    open_orders: int


@dataclass(frozen=True)
class TicketRecord:
    ticket: Ticket
    row: TicketRow
    description: str
    transcription: str
    deadlines: list[DeadlineLine]
    history: list[LogLine]
    steps: list[str] = field(default_factory=list)  # keys of labels.TICKET_STEPS
    crew: list[Crew] = field(default_factory=list)
    default_technician: str = ""


def ticket_record(session: Session, key: str, now: datetime, zone: ZoneInfo) -> TicketRecord | None:
    ticket = find_ticket(session, key)
    if ticket is None:
        return None
    steps = step_names(ticket)
    dispatching = "dispatched" in steps or "reassign" in steps
    chosen = default_technician(session, ticket.category) if dispatching else None
    return TicketRecord(
        ticket=ticket,
        row=ticket_row(ticket, now),
        description=mask_phones_in(ticket.description or ""),
        transcription=mask_phones_in(ticket.transcription or ""),
        deadlines=deadlines(ticket, now),
        history=[log_line(entry, zone) for entry in ticket.log],
        steps=steps,
        crew=crew(session) if dispatching else [],
        default_technician=chosen.username if chosen else "",
    )


def crew(session: Session) -> list[Crew]:
    load = open_orders_by_technician(session)
    return [
        Crew(
            person.username,
            person.display_name,
            "、".join(labels.label("ticket_category", trade)[0] for trade in person.trades or []),
            load.get(person.id, 0),
        )
        for person in technicians(session)
    ]


def render_ticket(key: str, problem: str = "", status: int = 200) -> ResponseReturnValue:
    found = services()
    zone = found.settings.timezone
    helpers = display_helpers(zone)
    with found.db.reader() as session:
        record = ticket_record(session, key, found.clock.now(), zone)
        if record is None:
            return render_template("console_tickets_missing.html", key=key, **helpers), 404
        page = render_template(
            "console_tickets_detail.html",
            record=record,
            problem=problem,
            asked=request.form if problem else {},
            levels=complaint_levels(),
            sla_labels=SLA_LABELS,
            priority_labels=PRIORITY_LABELS,
            log_labels=LOG_LABELS,
            deadline_states=DEADLINE_STATES,
            step_labels=labels.TICKET_STEPS,
            **helpers,
        )
    return page, status


@console.get("/tickets/<key>")
@require_role(*CONSOLE_ROLES)
def ticket_detail(key: str) -> ResponseReturnValue:
    return render_ticket(key)


@console.get("/tickets/<key>/order.pdf")
@require_role(*CONSOLE_ROLES)
def ticket_pdf(key: str) -> ResponseReturnValue:
    """The printed 报修单 for the archive (R5), as a PDF to print or keep."""
    found = services()
    with found.db.reader() as session:
        ticket = find_ticket(session, key)
        if ticket is None:
            helpers = display_helpers(found.settings.timezone)
            return render_template("console_tickets_missing.html", key=key, **helpers), 404
        pdf = order_form_pdf(ticket, found.settings.timezone, found.settings.hotline_name)
        name = f"{ticket.kind.value}-order-{ticket.number}.pdf"
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


# --- moving a ticket ------------------------------------------------------------------------

STEP_TARGETS = {"reassign": "dispatched", "returned": "acknowledged"}


@console.post("/tickets/<key>/transitions")
@require_role(*CONSOLE_ROLES)
def ticket_transition(key: str) -> ResponseReturnValue:
    """The step a button on the ticket's page takes: the page again, saying what happened."""
    found, staff = services(), current_staff()
    assert staff is not None  # require_role let them in
    form = request.form
    asked = form.get("step", "")
    try:
        step = Step.asked(
            STEP_TARGETS.get(asked, asked),
            technician=form.get("technician", ""),
            note=form.get("note", ""),
            materials=form.get("materials", ""),
            fee=form.get("fee", ""),
        )
        with found.db.session() as session:
            ticket = find_ticket(session, key)
            if ticket is None:
                return render_ticket(key)
            actor = Actor(staff.display_name, staff.role.value, staff.id)
            now, site = found.clock.now(), request.host_url
            moving = Moving(found.settings, found.engine.catalogues, now, site)
            follow = move_ticket(session, ticket, step, actor, moving)
            number = ticket.number
    except StepError as refused:
        return render_ticket(key, str(refused), 409 if refused.conflict else 422)
    hand_on(found.redis, follow)
    done = labels.TICKET_STEPS.get(asked, (asked, asked))
    flash(f"工单{number}：{done[0]} · {done[1]}", "notice")
    return redirect(url_for("console.ticket_detail", key=key), 303)
