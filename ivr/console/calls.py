"""The console's call log (R3): the filtered list with keyset pages and a CSV export, each
call's detail with its timeline, and the audit log of who opened which call.

Lists show masked numbers (138****8000) and family names only; the full number is on the
detail page, and every view of it is written to the audit log first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

from flask import Response, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ivr.calllog.query import (
    CallDirection,
    CallLogFilters,
    CallPage,
    call_page,
    calls_in_batches,
)
from ivr.calllog.timeline import (
    TimelineEntry,
    callback_entries,
    event_entry,
    message_entry,
    timeline,
    wrap_up_entry,
)
from ivr.console.home import add_to_navigation, console, filter_args, page_asked, page_links
from ivr.core import labels
from ivr.core.terms import CATEGORY_LABELS, OUTCOME_LABELS, Label
from ivr.models import (
    AuditAction,
    AuditEntry,
    Call,
    Callback,
    CallbackAttempt,
    OutboundMessage,
    StaffRole,
    Ticket,
    User,
    WrapUp,
)
from ivr.registry.privacy import mask_name, mask_number
from ivr.services import services
from ivr.store.filters import Cursor, FilterError, Keyset, optional_cursor
from ivr.web.access import CONSOLE_ROLES, current_staff, require_role

DIRECTION_LABELS = labels.CALL_DIRECTIONS
SATISFACTION_LABELS = labels.RATINGS
LABELS = {
    "category_labels": CATEGORY_LABELS,
    "outcome_labels": OUTCOME_LABELS,
    "direction_labels": DIRECTION_LABELS,
    "satisfaction_labels": SATISFACTION_LABELS,
}
OTHER_CALLS_SHOWN = 20
AUDIT_PAGE_SIZE = 50
AUDIT_BY_TIME: Keyset[AuditEntry] = Keyset(AuditEntry.at, AuditEntry.id)
# The SMS a ticket can send, by dedupe key (ivr/tickets/lifecycle.py): exact keys use
# the unique index.
TICKET_SMS = ("confirmation", "sla-warning", "level:1", "level:2", "level:3")
CSV_HEADER = (
    "来电时间",
    "来电号码",
    "姓名",
    "房号",
    "方向",
    "分类",
    "结果",
    "处理人",
    "排队",
    "通话时长(秒)",
    "满意度",
    "工单超时",
    "CallSid",
)
SPREADSHEET_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

add_to_navigation("console.call_log", "通话记录", "Call log")
add_to_navigation("console.audit_log", "审计日志", "Audit log", roles=[StaffRole.ADMIN])


# --- what a list row shows ------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    """One call as lists show it: masked number, family name only."""

    call_sid: str
    started: str  # in the hotline's time zone
    caller: str
    name: str
    unit: str
    direction: Label
    category: Label | None
    outcome: Label | None
    handled_by: str
    queue: str
    duration_s: int | None
    satisfaction: Label | None
    breached: bool

    @property
    def duration(self) -> str:
        if self.duration_s is None:
            return ""
        return f"{self.duration_s // 60}:{self.duration_s % 60:02d}"


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def direction_label(call: Call) -> Label:
    try:
        return DIRECTION_LABELS[CallDirection(call.direction)]
    except ValueError:
        return (call.direction, call.direction)


def handled_by(call: Call, agents: Mapping[int, str]) -> str:
    if call.agent_id is not None and call.agent_id in agents:
        return agents[call.agent_id]
    return call.handler or ""


def call_row(call: Call, zone: ZoneInfo, agents: Mapping[int, str], breached: bool) -> CallRow:
    return CallRow(
        call_sid=call.call_sid,
        started=local_time(call.started_at, zone),
        caller=mask_number(call.caller_number),
        name=mask_name(call.caller_name),
        unit=call.unit or "",
        direction=direction_label(call),
        category=CATEGORY_LABELS.get(call.category) if call.category else None,
        outcome=OUTCOME_LABELS.get(call.outcome) if call.outcome else None,
        handled_by=handled_by(call, agents),
        queue=call.queue or "",
        duration_s=call.duration_s,
        satisfaction=SATISFACTION_LABELS.get(call.satisfaction or 0),
        breached=breached,
    )


def staff_names(session: Session) -> dict[int, str]:
    """Every member of staff's display name, by id (a few dozen rows)."""
    return {user.id: user.display_name for user in session.scalars(select(User))}


def breached_calls(session: Session, call_sids: Sequence[str]) -> set[str]:
    """Which of these calls opened a ticket that missed its deadline."""
    if not call_sids:
        return set()
    query = select(Ticket.call_sid).where(
        Ticket.call_sid.in_(call_sids), Ticket.breached_at.is_not(None)
    )
    return {sid for sid in session.scalars(query) if sid}


def call_rows(session: Session, calls: Sequence[Call], zone: ZoneInfo) -> list[CallRow]:
    agents = staff_names(session)
    breached = breached_calls(session, [call.call_sid for call in calls])
    return [call_row(call, zone, agents, call.call_sid in breached) for call in calls]


# --- the call log ---------------------------------------------------------------------------


def page_and_export_links(page: CallPage | None) -> dict[str, str | None]:
    """Links to the other pages and to the CSV of the whole list, keeping the filters."""
    return {
        **page_links("console.call_log", page),
        "csv_url": url_for("console.call_log_csv", **filter_args()),
    }


def render_call_log(rows: Sequence[CallRow], page: CallPage | None, problem: str = "") -> str:
    with services().db.reader() as session:
        staff = list(session.scalars(select(User).order_by(User.display_name, User.id)))
    return render_template(
        "console_calls.html",
        rows=rows,
        problem=problem,
        staff_choices=staff,
        chosen=request.args,
        **page_and_export_links(page),
        **LABELS,
    )


def requested_filters() -> tuple[CallLogFilters, Cursor | None, Cursor | None]:
    zone = services().settings.timezone
    filters = CallLogFilters.from_args(request.args, zone)
    older, newer = page_asked()
    return filters, older, newer


@console.get("/calls")
@require_role(*CONSOLE_ROLES)
def call_log() -> ResponseReturnValue:
    try:
        filters, older, newer = requested_filters()
    except FilterError as problem:
        return render_call_log([], None, str(problem)), 400
    with services().db.reader() as session:
        page = call_page(session, filters, older, newer)
        rows = call_rows(session, page.calls, services().settings.timezone)
    return render_call_log(rows, page)


# --- the CSV export -------------------------------------------------------------------------


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (=HYPERLINK(...))."""
    return "'" + value if value.startswith(SPREADSHEET_FORMULA_STARTS) else value


def csv_record(row: CallRow) -> list[str]:
    cells = [
        row.started,
        row.caller,
        row.name,
        row.unit,
        row.direction[0],
        row.category[0] if row.category else "",
        row.outcome[0] if row.outcome else "",
        row.handled_by,
        row.queue,
        "" if row.duration_s is None else str(row.duration_s),
        row.satisfaction[0] if row.satisfaction else "",
        "是" if row.breached else "",
        row.call_sid,
    ]
    return [spreadsheet_safe(cell) for cell in cells]


def csv_text(records: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    return buffer.getvalue()


def csv_lines(filters: CallLogFilters, zone: ZoneInfo) -> Iterator[str]:
    """A BOM (so spreadsheets read UTF-8), the header, then the calls a batch at a time."""
    db = services().db
    yield "\ufeff" + csv_text([CSV_HEADER])
    for calls in calls_in_batches(db, filters):
        with db.reader() as session:
            rows = call_rows(session, calls, zone)
        yield csv_text(csv_record(row) for row in rows)


@console.get("/calls.csv")
@require_role(*CONSOLE_ROLES)
def call_log_csv() -> ResponseReturnValue:
    try:
        filters, _, _ = requested_filters()
    except FilterError as problem:
        return render_call_log([], None, str(problem)), 400
    found = services()
    with found.db.session() as session:
        filters_asked = unquote_plus(request.query_string.decode("ascii", "replace"))
        audit(session, AuditAction.EXPORT_CALLS, detail=filters_asked)
    today = found.clock.now().astimezone(found.settings.timezone).date().isoformat()
    lines = stream_with_context(csv_lines(filters, found.settings.timezone))
    response = Response(lines, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="calls-{today}.csv"'
    return response


# --- one call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """Everything the detail page shows, read in one session."""

    call: Call
    started: str
    ended: str
    handled_by: str
    direction: Label
    entries: Sequence[TimelineEntry]
    tickets: Sequence[Ticket]
    wrap_ups: Sequence[tuple[str, WrapUp]]
    other_calls: Sequence[CallRow]


def ticket_messages(session: Session, tickets: Sequence[Ticket]) -> list[OutboundMessage]:
    keys = [f"ticket:{ticket.id}:{purpose}" for ticket in tickets for purpose in TICKET_SMS]
    if not keys:
        return []
    query = select(OutboundMessage).where(OutboundMessage.dedupe_key.in_(keys))
    return list(session.scalars(query))


def call_callbacks(session: Session, call_sid: str) -> list[Callback]:
    """Callbacks this call asked for, and the callback this call was an attempt at."""
    attempted = select(CallbackAttempt.callback_id).where(
        or_(CallbackAttempt.call_sid == call_sid, CallbackAttempt.resident_call_sid == call_sid)
    )
    query = (
        select(Callback)
        .where(or_(Callback.call_sid == call_sid, Callback.id.in_(attempted)))
        .options(selectinload(Callback.attempt_log))
        .order_by(Callback.id)
    )
    return list(session.scalars(query))


def other_calls(session: Session, call: Call, zone: ZoneInfo) -> list[CallRow]:
    """The same resident's other calls, newest first; none once the number is masked."""
    if not call.caller_number or "*" in call.caller_number:
        return []
    query = (
        select(Call)
        .where(Call.caller_number == call.caller_number, Call.call_sid != call.call_sid)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(OTHER_CALLS_SHOWN)
    )
    return call_rows(session, list(session.scalars(query)), zone)


def call_record(session: Session, call_sid: str, zone: ZoneInfo) -> CallRecord | None:
    query = select(Call).where(Call.call_sid == call_sid).options(selectinload(Call.events))
    call = session.scalars(query).one_or_none()
    if call is None:
        return None
    agents = staff_names(session)
    tickets = list(session.scalars(select(Ticket).filter_by(call_sid=call_sid).order_by(Ticket.id)))
    wrap_ups = list(
        session.scalars(select(WrapUp).filter_by(call_sid=call_sid).order_by(WrapUp.id))
    )
    callbacks = call_callbacks(session, call_sid)
    entries = timeline(
        (event_entry(event) for event in call.events),
        (message_entry(message) for message in ticket_messages(session, tickets)),
        (entry for task in callbacks for entry in callback_entries(task)),
        (wrap_up_entry(wrap_up, agents) for wrap_up in wrap_ups),
    )
    return CallRecord(
        call=call,
        started=local_time(call.started_at, zone),
        ended=local_time(call.ended_at, zone) if call.ended_at else "",
        handled_by=handled_by(call, agents),
        direction=direction_label(call),
        entries=entries,
        tickets=tickets,
        wrap_ups=[(agents.get(w.agent_id or 0, ""), w) for w in wrap_ups],
        other_calls=other_calls(session, call, zone),
    )


def audit(
    session: Session, action: AuditAction, call_sid: str | None = None, detail: str = ""
) -> None:
    """Who did it, when, and from where."""
    staff = current_staff()
    assert staff is not None, "require_role lets only signed-in staff through"
    session.add(
        AuditEntry(
            at=services().clock.now(),
            user_id=staff.id,
            username=staff.username,
            action=action,
            call_sid=call_sid,
            detail=detail[:200],
            remote_addr=(request.remote_addr or "")[:64],
        )
    )


@console.get("/calls/<call_sid>")
@require_role(*CONSOLE_ROLES)
def call_detail(call_sid: str) -> ResponseReturnValue:
    zone = services().settings.timezone
    # Written in the same transaction as the read: no full number is shown without its entry.
    with services().db.session() as session:
        record = call_record(session, call_sid, zone)
        if record is not None:
            audit(session, AuditAction.VIEW_CALL, call_sid=call_sid)
    if record is None:
        return render_template("console_missing.html", call_sid=call_sid), 404
    return render_template("console_call.html", record=record, **LABELS)


# --- the audit log --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    at: str
    username: str
    action: AuditAction
    call_sid: str | None
    detail: str
    remote_addr: str


def audit_page(
    session: Session, older: Cursor | None, zone: ZoneInfo
) -> tuple[list[AuditRow], str | None]:
    """One page of the audit log, newest first, and the cursor of the next if there is one."""
    page = AUDIT_BY_TIME.page(session, select(AuditEntry), AUDIT_PAGE_SIZE, older)
    rows = [
        AuditRow(local_time(e.at, zone), e.username, e.action, e.call_sid, e.detail, e.remote_addr)
        for e in page.rows
    ]
    return rows, page.older


AUDIT_ACTION_LABELS = labels.AUDIT_ACTIONS


@console.get("/audit")
@require_role(StaffRole.ADMIN)
def audit_log() -> ResponseReturnValue:
    zone = services().settings.timezone
    try:
        older = optional_cursor(request.args, "older")
    except FilterError as problem:
        return render_audit([], None, str(problem)), 400
    with services().db.reader() as session:
        rows, next_cursor = audit_page(session, older, zone)
    return render_audit(rows, next_cursor)


def render_audit(rows: Sequence[AuditRow], next_cursor: str | None, problem: str = "") -> str:
    context: dict[str, Any] = {
        "rows": rows,
        "problem": problem,
        "action_labels": AUDIT_ACTION_LABELS,
        "older_url": url_for("console.audit_log", older=next_cursor) if next_cursor else None,
        "newest_url": url_for("console.audit_log") if request.args.get("older") else None,
    }
    return render_template("console_audit.html", **context)
