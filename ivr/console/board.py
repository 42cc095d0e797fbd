"""The console's live board (实时看板): calls on the line now, each queue's length and longest
wait, what the staff are doing, callbacks falling due and tickets about to miss their deadline.

The page polls /console/board/live for a fresh copy of its changing part (ivr/static/live.js),
as the agent desk does; without JavaScript a reload shows the same. Numbers are masked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ivr.calllog.waiting import (
    UNNAMED_QUEUE,
    WAITING_STATUSES,
    Waiting,
    flow_queues,
    queue_order,
    waiting_callers,
)
from ivr.console.home import add_to_navigation, console
from ivr.core import labels
from ivr.core.labels import label
from ivr.models import (
    Availability,
    Call,
    Callback,
    CallbackStatus,
    CallOutcome,
    StaffRole,
    Ticket,
    User,
)
from ivr.registry.privacy import mask_number
from ivr.services import Services, services
from ivr.tickets.lifecycle import next_deadline
from ivr.tickets.query import OPEN_STATUSES, at_risk
from ivr.web.access import CONSOLE_ROLES, require_role

# Twilio ends every call after four hours: a row still "in progress" after that lost its
# final status callback, and must not sit on the board for ever.
LONGEST_CALL = timedelta(hours=4)
CALLBACKS_AHEAD = timedelta(hours=1)
ROWS_SHOWN = 20
REFRESH_MS = 3000
STAGES = labels.BOARD_STAGES
ROLE_LABELS = labels.STAFF_ROLES

add_to_navigation("console.board", "实时看板", "Live board")


# --- what the board shows -------------------------------------------------------------------


@dataclass(frozen=True)
class LiveCall:
    call_sid: str
    caller: str  # masked
    unit: str
    category: str | None
    stage: str  # a key of STAGES
    started_at: datetime
    handled_by: str


@dataclass(frozen=True)
class QueueLine:
    name: str
    waiting: int
    longest_since: datetime | None  # when the longest-waiting caller joined


@dataclass(frozen=True)
class StaffState:
    name: str
    role: StaffRole
    availability: Availability
    on_call_since: datetime | None


@dataclass(frozen=True)
class DueCallback:
    id: int
    phone: str  # masked
    reason: str
    queue: str | None
    due_at: datetime
    owner: str
    attempts: int

    def overdue(self, now: datetime) -> bool:
        return self.due_at <= now


@dataclass(frozen=True)
class TicketAtRisk:
    id: int
    number: str
    kind: str
    category: str
    priority: str
    status: str
    unit: str
    deadline: datetime
    escalation_level: int


@dataclass(frozen=True)
class Board:
    now: datetime
    calls: list[LiveCall]
    stage_counts: dict[str, int]
    queues: list[QueueLine]
    staff: list[StaffState]
    callbacks: list[DueCallback]
    callbacks_due: int
    callbacks_overdue: int
    tickets: list[TicketAtRisk]
    tickets_breached_open: int

    def seconds_since(self, moment: datetime) -> int:
        return max(0, int((self.now - moment).total_seconds()))


def live_board(found: Services) -> Board:
    """Everything on the board, read in one session: a dozen small queries."""
    now = found.clock.now()
    with found.db.reader() as session:
        waiting = waiting_callers(session)
        calls = calls_on_the_line(session, now, {w.call.call_sid for w in waiting})
        callbacks, due, overdue = callbacks_falling_due(session, now)
        return Board(
            now=now,
            calls=calls[:ROWS_SHOWN],
            stage_counts=dict(Counter(call.stage for call in calls)),
            queues=queue_lines(waiting, flow_queues(found.engine.flow)),
            staff=staff_states(session, calls),
            callbacks=callbacks,
            callbacks_due=due,
            callbacks_overdue=overdue,
            tickets=tickets_at_risk(session, now),
            tickets_breached_open=breached_and_open(session),
        )


# --- calls and queues -----------------------------------------------------------------------


def calls_on_the_line(session: Session, now: datetime, waiting: set[str]) -> list[LiveCall]:
    """Calls Twilio has not reported ended, oldest first."""
    query = (
        select(Call, User.display_name)
        .outerjoin(User, User.id == Call.agent_id)
        .where(Call.status.in_(WAITING_STATUSES), Call.started_at >= now - LONGEST_CALL)
        .order_by(Call.started_at, Call.id)
    )
    return [live_call(call, name, waiting) for call, name in session.execute(query)]


def live_call(call: Call, agent_name: str | None, waiting: set[str]) -> LiveCall:
    return LiveCall(
        call_sid=call.call_sid,
        caller=mask_number(call.caller_number),
        unit=call.unit or "",
        category=call.category.value if call.category else None,
        stage=stage_of(call, waiting),
        started_at=call.started_at,
        handled_by=agent_name or call.handler or "",
    )


def stage_of(call: Call, waiting: set[str]) -> str:
    if call.call_sid in waiting:
        return "queue"
    if call.outcome == CallOutcome.AGENT_SERVED:
        return "agent"
    return "outbound" if call.direction == "outbound" else "ivr"


def queue_lines(waiting: Iterable[Waiting], known: Sequence[str]) -> list[QueueLine]:
    """Every queue of the flow, and any other with callers in it, most urgent first."""
    by_queue: dict[str, list[Waiting]] = {name: [] for name in known}
    for caller in waiting:
        by_queue.setdefault(caller.queue or UNNAMED_QUEUE, []).append(caller)
    return [
        QueueLine(name, len(callers), min((c.joined_at for c in callers), default=None))
        for name, callers in sorted(by_queue.items(), key=lambda item: queue_order(item[0]))
    ]


# --- staff ----------------------------------------------------------------------------------


def staff_states(session: Session, calls: Sequence[LiveCall]) -> list[StaffState]:
    """Agents, and supervisors or admins who made themselves available to take calls."""
    on_call = dict(
        session.execute(
            select(Call.agent_id, func.min(Call.started_at))
            .where(
                Call.call_sid.in_([call.call_sid for call in calls if call.stage == "agent"]),
                Call.agent_id.is_not(None),
            )
            .group_by(Call.agent_id)
        ).all()
    )
    people = session.scalars(
        select(User).where(
            or_(User.role == StaffRole.AGENT, User.availability != Availability.AWAY)
        )
    )
    states = [
        StaffState(user.display_name, user.role, user.availability, on_call.get(user.id))
        for user in people
    ]
    return sorted(states, key=staff_order)


def staff_order(state: StaffState) -> tuple[int, int, str]:
    """On a call first, then available, busy, away; by name within each."""
    rank = list(Availability).index(state.availability)
    return (0 if state.on_call_since else 1, rank, state.name)


# --- callbacks and tickets ------------------------------------------------------------------


def callbacks_falling_due(session: Session, now: datetime) -> tuple[list[DueCallback], int, int]:
    """Pending callbacks due within the hour, soonest first; with how many are due and late."""
    due = and_(Callback.status == CallbackStatus.PENDING, Callback.due_at <= now + CALLBACKS_AHEAD)
    counted = session.execute(
        select(func.count(), func.count(case((Callback.due_at <= now, 1)))).where(due)
    ).one()
    rows = session.execute(
        select(Callback, User.display_name)
        .outerjoin(User, User.id == Callback.owner_id)
        .where(due)
        .order_by(Callback.due_at, Callback.id)
        .limit(ROWS_SHOWN)
    )
    shown = [due_callback(callback, owner) for callback, owner in rows]
    return shown, int(counted[0] or 0), int(counted[1] or 0)


def due_callback(callback: Callback, owner: str | None) -> DueCallback:
    return DueCallback(
        id=callback.id,
        phone=mask_number(callback.phone),
        reason=callback.reason,
        queue=callback.queue,
        due_at=callback.due_at,
        owner=owner or "",
        attempts=callback.attempts,
    )


def tickets_at_risk(session: Session, now: datetime) -> list[TicketAtRisk]:
    """Open tickets not yet late whose next deadline falls within the warning window
    (ivr/core/service_levels.yaml), soonest first."""
    query = select(Ticket).where(at_risk(now)).order_by(Ticket.created_at, Ticket.id)
    tickets = [ticket_at_risk(ticket) for ticket in session.scalars(query)]
    return sorted(tickets, key=lambda ticket: ticket.deadline)[:ROWS_SHOWN]


def ticket_at_risk(ticket: Ticket) -> TicketAtRisk:
    deadline = next_deadline(ticket)
    assert deadline is not None, "only tickets with a deadline are at risk"
    return TicketAtRisk(
        id=ticket.id,
        number=ticket.number,
        kind=ticket.kind.value,
        category=ticket.category,
        priority=ticket.priority.value,
        status=ticket.status.value,
        unit=ticket.unit_text or "",
        deadline=deadline,
        escalation_level=ticket.escalation_level,
    )


def breached_and_open(session: Session) -> int:
    query = select(func.count()).where(
        Ticket.status.in_(OPEN_STATUSES), Ticket.breached_at.is_not(None)
    )
    return int(session.scalar(query) or 0)


# --- the pages ------------------------------------------------------------------------------


def display_helpers(zone: tzinfo) -> dict[str, Callable[..., Any]]:
    """What the console's templates use to show labels, times and durations."""

    def local_time(moment: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
        return moment.astimezone(zone).strftime(pattern) if moment else ""

    def clock_text(seconds: int) -> str:
        return f"{seconds // 60}:{seconds % 60:02d}"

    return {"label": label, "local_time": local_time, "clock_text": clock_text}


def render_board(template: str) -> str:
    found = services()
    return render_template(
        template,
        board=live_board(found),
        stages=STAGES,
        role_labels=ROLE_LABELS,
        refresh_ms=REFRESH_MS,
        **display_helpers(found.settings.timezone),
    )


@console.get("/board")
@require_role(*CONSOLE_ROLES)
def board() -> ResponseReturnValue:
    return render_board("console_board.html")


@console.get("/board/live")
@require_role(*CONSOLE_ROLES)
def board_live() -> ResponseReturnValue:
    """The part of the board that changes, for the page to swap in without a reload."""
    return render_board("console_board_live.html")
