"""The console's tickets (R5, R6): repair orders and complaints with filters, their deadlines
and where they stand on the escalation ladder; and one ticket with its history.

Lists and the detail page show callers' numbers masked (138****8000); the full number is on
the detail page of the call that opened the ticket, where every view is audited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, contains_eager

from ivr.api.tickets import find_ticket, ticket_unit_label, unit_label_column
from ivr.app import services
from ivr.desk import labels
from ivr.desk.labels import Label
from ivr.models import Ticket, TicketKind, TicketLog, TicketPriority, TicketStatus, Unit
from ivr.privacy import mask_number
from ivr.query_params import (
    FilterError,
    decode_cursor,
    encode_cursor,
    enum_value,
    later_than,
    older_than,
    one_page,
    period,
    switch,
)
from ivr.report import mask_phones_in
from ivr.tickets import service_levels
from ivr.web.access import CONSOLE_ROLES, require_role
from ivr.web.console import add_to_navigation, console
from ivr.web.console_board import (
    AWAITING_VISIT,
    OPEN_TICKET_STATUSES,
    at_risk,
    display_helpers,
    next_deadline,
    risk_horizon,
)

PAGE_SIZE = 50
PAGE_ARGS = ("older", "newer")
Cursor = tuple[datetime, int]
TYPED_NUMBER = re.compile(r"\+?\d{3,16}")
CHINESE_MOBILE = re.compile(r"1\d{10}")
LEVELS = (1, 2, 3)
MAX_UNIT_LENGTH = 64


class SlaState(StrEnum):
    BREACHED = "breached"  # flagged past its deadline
    AT_RISK = "at_risk"  # open, and its next deadline falls within the warning window


SLA_LABELS: dict[SlaState, Label] = {
    SlaState.BREACHED: ("已超时", "Breached"),
    SlaState.AT_RISK: ("即将超时", "About to breach"),
}
PRIORITY_LABELS: dict[str, Label] = {
    "emergency": ("紧急", "Emergency"),
    "high": ("重要", "High"),
    "normal": ("一般", "Normal"),
}
LOG_LABELS: dict[str, Label] = {
    "created": ("受理", "Opened"),
    "notified": ("已通知", "Notified"),
    "not_notified": ("无法通知", "Could not notify"),
    "escalated": ("升级", "Escalated"),
    "sla_warning": ("即将超时提醒", "Deadline warning"),
    "sla_breached": ("已超时", "Deadline missed"),
    "resolved": ("已完成", "Resolved"),
    "return_visit": ("回访", "Return visit"),
    "reopened": ("重新处理", "Reopened"),
    "desk_note": ("坐席备注", "Agent's note"),
}
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
DEADLINE_STATES: dict[str, Label] = {
    "met": ("按时", "Met"),
    "missed": ("超时", "Missed"),
    "pending": ("未到", "Pending"),
    "passed": ("—", "Stage passed"),
}

add_to_navigation("console.tickets", "工单", "Tickets")


# --- the filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketListFilters:
    """Which tickets to list; every field narrows the list."""

    since: datetime | None = None
    until: datetime | None = None
    kind: TicketKind | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    category: str = ""
    sla: SlaState | None = None
    still_open: bool | None = None
    level: int | None = None
    unit: str = ""
    number: str = ""  # a ticket number, or a caller's number or its last digits

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> TicketListFilters:
        """The page's query string; a FilterError names the parameter that is wrong."""
        since, until = period(args, zone)
        return cls(
            since=since,
            until=until,
            kind=enum_value(TicketKind, args.get("kind"), "kind"),
            status=enum_value(TicketStatus, args.get("status"), "status"),
            priority=enum_value(TicketPriority, args.get("priority"), "priority"),
            category=ticket_category(args.get("category", "")),
            sla=enum_value(SlaState, args.get("sla"), "sla"),
            still_open=switch(args.get("open"), "open"),
            level=escalation_level(args.get("level", "")),
            unit=unit_text(args.get("unit", "")),
            number=typed_number(args.get("number", "")),
        )

    def conditions(self, now: datetime) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool] | None] = [
            Ticket.created_at >= self.since if self.since else None,
            Ticket.created_at < self.until if self.until else None,
            Ticket.kind == self.kind if self.kind else None,
            Ticket.status == self.status if self.status else None,
            Ticket.priority == self.priority if self.priority else None,
            Ticket.category == self.category if self.category else None,
            sla_condition(self.sla, now) if self.sla else None,
            open_condition(self.still_open) if self.still_open is not None else None,
            Ticket.escalation_level == self.level if self.level else None,
            unit_label_column().contains(self.unit, autoescape=True) if self.unit else None,
            number_condition(self.number) if self.number else None,
        ]
        return [condition for condition in wanted if condition is not None]

    def query(self, now: datetime) -> Select[Ticket]:
        return (
            select(Ticket)
            .outerjoin(Unit, Ticket.unit_id == Unit.id)
            .options(contains_eager(Ticket.unit))
            .where(*self.conditions(now))
        )


def ticket_category(raw: str) -> str:
    if raw and raw not in labels.TICKET_CATEGORIES:
        allowed = ", ".join(labels.TICKET_CATEGORIES)
        raise FilterError(f"category must be one of: {allowed}")
    return raw


def escalation_level(raw: str) -> int | None:
    if not raw:
        return None
    if raw not in {str(level) for level in LEVELS}:
        raise FilterError("level must be 1, 2 or 3")
    return int(raw)


def unit_text(raw: str) -> str:
    text = raw.strip()
    if len(text) > MAX_UNIT_LENGTH:
        raise FilterError(f"unit may be at most {MAX_UNIT_LENGTH} characters")
    return text


def typed_number(raw: str) -> str:
    number = re.sub(r"[\s\-()]", "", raw)
    if number and not TYPED_NUMBER.fullmatch(number):
        raise FilterError(
            "number must be a ticket number, or a phone number or its last digits (at least 3)"
        )
    return number


def sla_condition(sla: SlaState, now: datetime) -> ColumnElement[bool]:
    return Ticket.breached_at.is_not(None) if sla == SlaState.BREACHED else at_risk(now)


def open_condition(still_open: bool) -> ColumnElement[bool]:
    if still_open:
        return Ticket.status.in_(OPEN_TICKET_STATUSES)
    return Ticket.status.not_in(OPEN_TICKET_STATUSES)


def number_condition(number: str) -> ColumnElement[bool]:
    """The ticket's own number, or the caller's: whole (+8613800138000, 13800138000) or
    the last digits people remember."""
    if number.startswith("+"):
        return Ticket.caller_number == number
    if CHINESE_MOBILE.fullmatch(number):
        return Ticket.caller_number == "+86" + number
    trunk_dropped = number[1:] if len(number) >= 10 and number.startswith("0") else number
    return (Ticket.number == number) | Ticket.caller_number.endswith(trunk_dropped, autoescape=True)


# --- one page of the list -------------------------------------------------------------------


@dataclass(frozen=True)
class TicketPage:
    tickets: Sequence[Ticket]
    newer: str | None
    older: str | None


def cursor_of(ticket: Ticket) -> str:
    return encode_cursor(ticket.created_at, ticket.id)


def ticket_page(
    session: Session,
    filters: TicketListFilters,
    now: datetime,
    older: Cursor | None = None,
    newer: Cursor | None = None,
) -> TicketPage:
    """Newest first, PAGE_SIZE at a time, each page starting where the last one ended."""
    query = filters.query(now)
    if newer is not None:
        earlier_first = query.where(later_than(newer, Ticket.created_at, Ticket.id)).order_by(
            Ticket.created_at, Ticket.id
        )
        rows, more = one_page(list(session.scalars(earlier_first.limit(PAGE_SIZE + 1))), PAGE_SIZE)
        shown = list(reversed(rows))
        return TicketPage(shown, cursor_of(shown[0]) if more else None, edge(shown, -1))
    if older is not None:
        query = query.where(older_than(older, Ticket.created_at, Ticket.id))
    newest_first = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    shown_rows, more = one_page(list(session.scalars(newest_first.limit(PAGE_SIZE + 1))), PAGE_SIZE)
    shown = list(shown_rows)
    return TicketPage(shown, edge(shown, 0) if older else None, edge(shown, -1) if more else None)


def edge(tickets: Sequence[Ticket], index: int) -> str | None:
    return cursor_of(tickets[index]) if tickets else None


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


def sla_state(ticket: Ticket, now: datetime) -> SlaState | None:
    if ticket.breached_at is not None:
        return SlaState.BREACHED
    deadline = next_deadline(ticket)
    if ticket.status.is_open and deadline is not None and deadline <= risk_horizon(now):
        return SlaState.AT_RISK
    return None


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


def filter_args() -> dict[str, Any]:
    return {name: value for name, value in request.args.items() if value and name not in PAGE_ARGS}


def page_links(page: TicketPage | None) -> dict[str, str | None]:
    kept = filter_args()
    paged = any(request.args.get(name) for name in PAGE_ARGS)
    newer, older = (page.newer, page.older) if page else (None, None)
    return {
        "newer_url": url_for("console.tickets", **kept, newer=newer) if newer else None,
        "older_url": url_for("console.tickets", **kept, older=older) if older else None,
        "newest_url": url_for("console.tickets", **kept) if paged else None,
    }


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


def render_tickets(rows: Sequence[TicketRow], page: TicketPage | None, problem: str = "") -> str:
    return render_template(
        "console_tickets.html",
        rows=rows,
        problem=problem,
        chosen=request.args,
        sla_labels=SLA_LABELS,
        priority_labels=PRIORITY_LABELS,
        **choices(),
        **page_links(page),
        **display_helpers(services().settings.timezone),
    )


def optional_cursor(raw: str | None) -> Cursor | None:
    return decode_cursor(raw) if raw else None


@console.get("/tickets")
@require_role(*CONSOLE_ROLES)
def tickets() -> ResponseReturnValue:
    found = services()
    now = found.clock.now()
    try:
        filters = TicketListFilters.from_args(request.args, found.settings.timezone)
        older, newer = (optional_cursor(request.args.get(name)) for name in PAGE_ARGS)
    except FilterError as problem:
        return render_tickets([], None, str(problem)), 400
    with found.db.reader() as session:
        page = ticket_page(session, filters, now, older, newer)
        rows = [ticket_row(ticket, now) for ticket in page.tickets]
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
