"""The console's overview (概览): today's numbers at a glance, each a link to the page
that lists them: calls today, callers waiting and on the line now, callbacks overdue and
due today, orders about to breach or breached, orders waiting for a technician, and the
orders dispatched and finished today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ivr.calllog.waiting import WAITING_STATUSES, waiting_callers
from ivr.console.board import LONGEST_CALL
from ivr.console.home import console
from ivr.core.labels import Label
from ivr.models import Call, Callback, CallbackStatus, Ticket, TicketKind, TicketStatus
from ivr.services import services
from ivr.tickets.query import OPEN_STATUSES, at_risk
from ivr.web.access import CONSOLE_ROLES, require_role


@dataclass(frozen=True)
class Figure:
    key: str  # the element's id: figure-<key>
    label: Label
    value: int
    url: str
    alarm: bool = False  # worth a supervisor's attention when not 0


def _count(session: Session, model: type, *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def today_figures(session: Session, now: datetime) -> list[Figure]:
    zone = services().settings.timezone
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone)
    end = start + timedelta(days=1)
    day = today.isoformat()
    pending = Callback.status == CallbackStatus.PENDING
    still_open = Ticket.status.in_(OPEN_STATUSES)
    awaiting_dispatch = Ticket.status.in_([TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED])
    calls_today = _count(
        session, Call, Call.direction == "inbound", Call.started_at >= start, Call.started_at < end
    )
    on_the_line = _count(
        session, Call, Call.status.in_(WAITING_STATUSES), Call.started_at >= now - LONGEST_CALL
    )
    tickets = url_for("console.tickets")
    return [
        Figure(
            "calls",
            ("今日来电", "Calls today"),
            calls_today,
            f"{url_for('console.call_log')}?from={day}&to={day}",
        ),
        Figure(
            "waiting",
            ("正在排队", "Waiting now"),
            len(waiting_callers(session)),
            url_for("console.board"),
            alarm=True,
        ),
        Figure("on-the-line", ("通话中", "On the line"), on_the_line, url_for("console.board")),
        Figure(
            "callbacks-overdue",
            ("逾期回电", "Callbacks overdue"),
            _count(session, Callback, pending, Callback.due_at < now),
            url_for("console.board"),
            alarm=True,
        ),
        Figure(
            "callbacks-today",
            ("今日待回电", "Callbacks due today"),
            _count(session, Callback, pending, Callback.due_at >= now, Callback.due_at < end),
            url_for("console.board"),
        ),
        Figure(
            "at-risk",
            ("即将超时工单", "Orders about to breach"),
            _count(session, Ticket, at_risk(now)),
            f"{tickets}?sla=at_risk",
            alarm=True,
        ),
        Figure(
            "breached",
            ("已超时未完成", "Breached, still open"),
            _count(session, Ticket, still_open, Ticket.breached_at.is_not(None)),
            f"{tickets}?sla=breached&open=true",
            alarm=True,
        ),
        Figure(
            "awaiting-dispatch",
            ("待派工报修", "Repairs to dispatch"),
            _count(session, Ticket, Ticket.kind == TicketKind.REPAIR, awaiting_dispatch),
            f"{tickets}?kind=repair&open=true",
            alarm=True,
        ),
        Figure(
            "dispatched-today",
            ("今日派工", "Dispatched today"),
            _count(session, Ticket, Ticket.dispatched_at >= start, Ticket.dispatched_at < end),
            f"{tickets}?status=dispatched",
        ),
        Figure(
            "done-today",
            ("今日完成", "Done today"),
            _count(session, Ticket, Ticket.resolved_at >= start, Ticket.resolved_at < end),
            f"{tickets}?status=done",
        ),
    ]


@console.get("/")
@require_role(*CONSOLE_ROLES)
def home() -> ResponseReturnValue:
    found = services()
    now = found.clock.now()
    with found.db.reader() as session:
        figures = today_figures(session, now)
    moment = now.astimezone(found.settings.timezone)
    return render_template("console.html", figures=figures, as_of=moment)
