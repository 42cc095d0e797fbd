"""KPIs for a period (R11: 接听率, 解决率, satisfaction), computed by the database.

Every figure is an aggregate query — COUNT over CASE, GROUP BY, a window function — so a
month of a busy hotline costs a handful of queries, never a walk over its rows in Python.
The same SQL runs on SQLite and PostgreSQL. Definitions:

- Calls are **inbound** calls (``Call.direction == "inbound"``) that *started* in the period;
  outbound callbacks and return-visit surveys are counted apart (``outbound_calls``).
  Calls still in progress are counted in ``calls`` but left out of every rate.
- **Offered**: inbound calls that have ended. **Answered** (接听率): offered calls with the
  status ``completed`` whose outcome is not ``failed`` — answered by the IVR or by a person.
  **Abandoned**: offered calls with the outcome ``abandoned`` (hung up before being served).
- **Three-ring compliance** (R1): calls whose greeting webhook answered within the budget in
  ``kpi_targets.yaml`` (``Call.greeting_ms``), of the calls with a greeting time recorded.
- **Agent answer rate**: calls handed to a queue (``Call.queue`` set) that a person took
  (outcome ``agent_served``), of the calls handed to a queue.
- **ASA** and **service level**: from the ``queue_result`` events of the period's inbound
  calls (Twilio's ``QueueTime``, stored as ``waited_s``). ASA is the average wait of the
  callers bridged to an agent; the service level is the share of callers leaving a queue who
  were bridged within the target time — hang-ups, messages and callbacks count as missed.
- **First-call resolution** (解决率): of the calls the IVR or a person served (outcome
  ``self_served`` or ``agent_served``), the share whose caller did not phone again about the
  same category within the repeat window (7 days by default). Calls without a caller number
  cannot be followed and count as resolved. A repeat may fall after the period ends.
- **SLA compliance** (R5, R6): repair orders and complaints whose deadline (``resolve_by``)
  falls in the period, resolved by then. **Breaches**: tickets flagged ``breached_at`` in the
  period. **Escalations**: ``escalated`` entries in the ticket log in the period; complaints
  opened in the period are also counted by the highest level they reached (1 接待人,
  2 客服主管, 3 主管副总经理).
- **Satisfaction** (R9): ratings given at the end of inbound calls (1 satisfied, 2 average,
  3 dissatisfied) and, apart, the return-visit survey answers: ``return_visit`` entries in
  the ticket log in the period, with their ``rating``.
- **Callbacks on time** (R7): callbacks due in the period that were done by their due time.
- Deadlines after ``now`` (when given) are not judged yet: such tickets and callbacks are left
  out, so a period still running is not marked down for what is not late.
- Calls per day and per hour of day are in the hotline's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.core import labels
from ivr.core.events import EventKind
from ivr.models import (
    Call,
    Callback,
    CallbackStatus,
    CallEventRow,
    CallOutcome,
    CallStatus,
    Ticket,
    TicketKind,
    TicketLog,
    TicketPriority,
)
from ivr.reporting.periods import Period

TARGETS_PATH = Path(__file__).with_name("kpi_targets.yaml")
FINAL_STATUSES = tuple(status for status in CallStatus if status.is_final)
SERVED = (CallOutcome.SELF_SERVED, CallOutcome.AGENT_SERVED)
RATINGS = tuple(labels.RATINGS)  # R9: 1 satisfied, 2 average, 3 dissatisfied
ESCALATION_LEVELS = (1, 2, 3)
BUCKET_S = 900  # quarter hours: every time zone's offset is a whole number of them
RATING_TEXTS = frozenset(str(rating) for rating in RATINGS)
SURVEY_LOG_KIND, SURVEY_RATING = "return_visit", "rating"  # a return visit's ticket-log entry


# --- targets --------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiTargets:
    """The company's targets (ivr/reporting/kpi_targets.yaml); shares are fractions."""

    answer_rate: float
    abandonment_max: float
    three_ring: float
    greeting_budget_ms: int
    service_level: float
    service_level_s: int
    first_call_resolution: float
    repeat_window_days: int
    sla_compliance: float
    satisfaction: float
    callbacks_on_time: float


def load_targets(path: Path = TARGETS_PATH) -> KpiTargets:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        return KpiTargets(
            answer_rate=float(data["answer_rate"]),
            abandonment_max=float(data["abandonment_max"]),
            three_ring=float(data["three_ring"]["share"]),
            greeting_budget_ms=int(data["three_ring"]["greeting_budget_ms"]),
            service_level=float(data["service_level"]["share"]),
            service_level_s=int(data["service_level"]["within_s"]),
            first_call_resolution=float(data["first_call_resolution"]["share"]),
            repeat_window_days=int(data["first_call_resolution"]["repeat_window_days"]),
            sla_compliance=float(data["sla_compliance"]),
            satisfaction=float(data["satisfaction"]),
            callbacks_on_time=float(data["callbacks_on_time"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name}: missing or malformed {exc}") from exc


@cache
def default_targets() -> KpiTargets:
    return load_targets()


# --- the figures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """`hits` of `total`; no value when there is nothing to divide by."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass(frozen=True)
class Kpis:
    period: Period
    calls: int  # inbound calls that started in the period
    in_progress: int
    offered: int
    answer_rate: Ratio
    abandonment: Ratio
    three_ring: Ratio
    agent_answer: Ratio
    service_level: Ratio
    asa_s: float | None
    longest_wait_s: int | None
    first_call_resolution: Ratio
    repair_sla: Ratio
    complaint_sla: Ratio
    breaches: dict[str, int]  # by ticket kind
    escalations: int
    complaints_by_level: dict[int, int]
    tickets_opened: dict[str, int]  # by ticket kind
    emergencies: int
    satisfaction: dict[int, int]  # rating -> calls
    satisfied: Ratio
    survey_satisfaction: dict[int, int]
    survey_satisfied: Ratio
    callbacks_on_time: Ratio
    callbacks_unreachable: int
    outbound_calls: int
    by_category: dict[str, int]  # "" for calls never classified
    by_outcome: dict[str, int]
    per_day: list[tuple[date, int]]
    per_hour: list[int]  # 24 counts, hour of day in the hotline's zone
    previous_calls: int  # inbound calls of the period before, for the trend
    targets: KpiTargets = field(repr=False)

    @property
    def trend(self) -> float | None:
        """Change in inbound calls against the period before (0.1 is 10 % more)."""
        if not self.previous_calls:
            return None
        return (self.calls - self.previous_calls) / self.previous_calls


def kpis(
    session: Session,
    period: Period,
    settings: Settings,
    *,
    now: datetime | None = None,
    targets: KpiTargets | None = None,
) -> Kpis:
    """Every KPI of the period, from a dozen aggregate queries."""
    goals = targets or default_targets()
    calls = _call_counts(session, period, goals)
    queue = _queue_figures(session, period, goals)
    tickets = _ticket_figures(session, period, now)
    per_day, per_hour = _volume(session, period, settings.timezone)
    satisfaction = _satisfaction(calls)
    survey = _survey_answers(session, period)
    callbacks = _callbacks(session, period, now)
    return Kpis(
        period=period,
        calls=calls["calls"],
        in_progress=calls["calls"] - calls["offered"],
        offered=calls["offered"],
        answer_rate=Ratio(calls["answered"], calls["offered"]),
        abandonment=Ratio(calls["abandoned"], calls["offered"]),
        three_ring=Ratio(calls["greeted_in_time"], calls["greeted"]),
        agent_answer=Ratio(calls["reached_agent"], calls["queued"]),
        service_level=Ratio(queue.in_time, queue.exits),
        asa_s=queue.asa_s,
        longest_wait_s=queue.longest_s,
        first_call_resolution=_first_call_resolution(session, period, goals),
        repair_sla=tickets.sla.get(TicketKind.REPAIR.value, Ratio(0, 0)),
        complaint_sla=tickets.sla.get(TicketKind.COMPLAINT.value, Ratio(0, 0)),
        breaches=tickets.breaches,
        escalations=tickets.escalations,
        complaints_by_level=tickets.by_level,
        tickets_opened=tickets.opened,
        emergencies=tickets.emergencies,
        satisfaction=satisfaction,
        satisfied=Ratio(satisfaction[1], sum(satisfaction.values())),
        survey_satisfaction=survey,
        survey_satisfied=Ratio(survey[1], sum(survey.values())),
        callbacks_on_time=callbacks.on_time,
        callbacks_unreachable=callbacks.unreachable,
        outbound_calls=_outbound_calls(session, period),
        by_category=_grouped(session, period, Call.category),
        by_outcome=_grouped(session, period, Call.outcome),
        per_day=per_day,
        per_hour=per_hour,
        previous_calls=_inbound_count(session, period.previous()),
        targets=goals,
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def inbound_in(period: Period) -> ColumnElement[bool]:
    return and_(Call.direction == "inbound", period.contains(Call.started_at))


def _call_counts(session: Session, period: Period, goals: KpiTargets) -> dict[str, int]:
    ended = Call.status.in_(FINAL_STATUSES)
    answered = and_(
        Call.status == CallStatus.COMPLETED,
        or_(Call.outcome.is_(None), Call.outcome != CallOutcome.FAILED),
    )
    columns = {
        "calls": func.count(),
        "offered": _count_if(ended),
        "answered": _count_if(answered),
        "abandoned": _count_if(and_(ended, Call.outcome == CallOutcome.ABANDONED)),
        "greeted": _count_if(Call.greeting_ms.is_not(None)),
        "greeted_in_time": _count_if(Call.greeting_ms <= goals.greeting_budget_ms),
        "queued": _count_if(and_(ended, Call.queue.is_not(None))),
        "reached_agent": _count_if(
            and_(ended, Call.queue.is_not(None), Call.outcome == CallOutcome.AGENT_SERVED)
        ),
        **{f"rated_{r}": _count_if(Call.satisfaction == r) for r in RATINGS},
    }
    row = session.execute(select(*columns.values()).where(inbound_in(period))).one()
    return {name: int(value or 0) for name, value in zip(columns, row, strict=True)}


def _satisfaction(calls: Mapping[str, int]) -> dict[int, int]:
    return {rating: calls[f"rated_{rating}"] for rating in RATINGS}


@dataclass(frozen=True)
class _QueueFigures:
    exits: int
    in_time: int
    asa_s: float | None
    longest_s: int | None


def _queue_figures(session: Session, period: Period, goals: KpiTargets) -> _QueueFigures:
    waited = CallEventRow.detail["waited_s"].as_integer()
    bridged = CallEventRow.detail["result"].as_string() == "bridged"
    row = session.execute(
        select(
            func.count(),
            _count_if(and_(bridged, waited <= goals.service_level_s)),
            func.avg(case((bridged, waited))),
            func.max(waited),
        )
        .select_from(CallEventRow)
        .join(Call, Call.call_sid == CallEventRow.call_sid)
        .where(inbound_in(period), CallEventRow.kind == EventKind.QUEUE_RESULT.value)
    ).one()
    exits, in_time, average, longest = row
    return _QueueFigures(
        exits=int(exits or 0),
        in_time=int(in_time or 0),
        asa_s=float(average) if average is not None else None,
        longest_s=int(longest) if longest is not None else None,
    )


def _later_by_more_than(
    session: Session, later: ColumnElement[datetime], earlier: ColumnElement[datetime], days: int
) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier > literal_column(f"interval '{int(days)} days'")
    return func.julianday(later) - func.julianday(earlier) > days


def _first_call_resolution(session: Session, period: Period, goals: KpiTargets) -> Ratio:
    window = timedelta(days=goals.repeat_window_days)
    subject = func.coalesce(Call.category, "")
    calls = (
        select(
            Call.started_at,
            Call.outcome,
            Call.caller_number,
            func.lead(Call.started_at)
            .over(partition_by=(Call.caller_number, subject), order_by=(Call.started_at, Call.id))
            .label("next_at"),
        )
        .where(
            Call.direction == "inbound",
            Call.started_at >= period.utc_start,
            Call.started_at < period.utc_end + window,  # a repeat may come after the period
        )
        .subquery()
    )
    resolved = or_(
        calls.c.caller_number == "",
        calls.c.next_at.is_(None),
        _later_by_more_than(session, calls.c.next_at, calls.c.started_at, window.days),
    )
    row = session.execute(
        select(func.count(), _count_if(resolved)).where(
            calls.c.started_at < period.utc_end, calls.c.outcome.in_(SERVED)
        )
    ).one()
    return Ratio(int(row[1] or 0), int(row[0] or 0))


@dataclass(frozen=True)
class _TicketFigures:
    sla: dict[str, Ratio]
    breaches: dict[str, int]
    escalations: int
    by_level: dict[int, int]
    opened: dict[str, int]
    emergencies: int


def _ticket_figures(session: Session, period: Period, now: datetime | None) -> _TicketFigures:
    opened = session.execute(
        select(Ticket.kind, func.count(), _count_if(Ticket.priority == TicketPriority.EMERGENCY))
        .where(period.contains(Ticket.created_at))
        .group_by(Ticket.kind)
    ).all()
    return _TicketFigures(
        sla=_sla(session, period, now),
        breaches=_by_kind(
            session.execute(
                select(Ticket.kind, func.count())
                .where(period.contains(Ticket.breached_at))
                .group_by(Ticket.kind)
            ).all()
        ),
        escalations=int(
            session.scalar(
                select(func.count())
                .select_from(TicketLog)
                .where(TicketLog.kind == "escalated", period.contains(TicketLog.at))
            )
            or 0
        ),
        by_level=_complaints_by_level(session, period),
        opened=_by_kind([(kind, count) for kind, count, _ in opened]),
        emergencies=sum(int(emergencies) for _, _, emergencies in opened),
    )


def _by_kind(rows: Any) -> dict[str, int]:
    counts = {kind.value: 0 for kind in TicketKind}
    counts.update({str(kind): int(count) for kind, count in rows})
    return counts


def _sla(session: Session, period: Period, now: datetime | None) -> dict[str, Ratio]:
    due = [period.contains(Ticket.resolve_by)]
    if now is not None:
        due.append(Ticket.resolve_by <= now)
    met = and_(Ticket.resolved_at.is_not(None), Ticket.resolved_at <= Ticket.resolve_by)
    rows = session.execute(
        select(Ticket.kind, func.count(), _count_if(met)).where(*due).group_by(Ticket.kind)
    ).all()
    return {str(kind): Ratio(int(hits), int(total)) for kind, total, hits in rows}


def _complaints_by_level(session: Session, period: Period) -> dict[int, int]:
    rows = session.execute(
        select(Ticket.escalation_level, func.count())
        .where(Ticket.kind == TicketKind.COMPLAINT, period.contains(Ticket.created_at))
        .group_by(Ticket.escalation_level)
    ).all()
    counts = dict.fromkeys(ESCALATION_LEVELS, 0)
    counts.update({int(level): int(count) for level, count in rows})
    return counts


def _survey_answers(session: Session, period: Period) -> dict[int, int]:
    """Return-visit answers (ivr.tickets.lifecycle.note_return_visit logs `rating`: 1, 2
    or 3), grouped as stored and read in Python — a handful of groups — since a JSON
    number and a JSON string compare differently on the two databases."""
    rating = TicketLog.detail[SURVEY_RATING].as_string()
    rows = session.execute(
        select(rating, func.count())
        .where(TicketLog.kind == SURVEY_LOG_KIND, period.contains(TicketLog.at))
        .group_by(rating)
    ).all()
    counts = dict.fromkeys(RATINGS, 0)
    for raw, count in rows:
        if str(raw) in RATING_TEXTS:
            counts[int(str(raw))] += int(count)
    return counts


@dataclass(frozen=True)
class _CallbackFigures:
    on_time: Ratio
    unreachable: int


def _callbacks(session: Session, period: Period, now: datetime | None) -> _CallbackFigures:
    due = [period.contains(Callback.due_at)]
    if now is not None:
        due.append(Callback.due_at <= now)
    done_in_time = and_(
        Callback.status == CallbackStatus.DONE,
        Callback.completed_at.is_not(None),
        Callback.completed_at <= Callback.due_at,
    )
    row = session.execute(
        select(
            func.count(),
            _count_if(done_in_time),
            _count_if(Callback.status == CallbackStatus.UNREACHABLE),
        ).where(*due)
    ).one()
    return _CallbackFigures(Ratio(int(row[1] or 0), int(row[0] or 0)), int(row[2] or 0))


def _outbound_calls(session: Session, period: Period) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Call.direction == "outbound", period.contains(Call.started_at)
            )
        )
        or 0
    )


def _inbound_count(session: Session, period: Period) -> int:
    return int(session.scalar(select(func.count()).where(inbound_in(period))) or 0)


def _grouped(session: Session, period: Period, column: Any) -> dict[str, int]:
    rows = session.execute(
        select(column, func.count()).where(inbound_in(period)).group_by(column)
    ).all()
    counts = {(str(key.value) if key is not None else ""): int(count) for key, count in rows}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _epoch_bucket(session: Session, column: Any) -> ColumnElement[int]:
    """The quarter hour a moment falls in, as seconds since 1970 // BUCKET_S."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / BUCKET_S), Integer)
    return cast(func.strftime("%s", column), Integer) // BUCKET_S


def _volume(
    session: Session, period: Period, zone: tzinfo
) -> tuple[list[tuple[date, int]], list[int]]:
    """Calls per local day and hour of day: the database counts per UTC quarter hour (at most
    ~3000 rows a month), Python places each quarter in the hotline's zone, DST included."""
    bucket = _epoch_bucket(session, Call.started_at).label("bucket")
    rows = session.execute(
        select(bucket, func.count()).where(inbound_in(period)).group_by(bucket)
    ).all()
    per_day = dict.fromkeys(period.days, 0)
    per_hour = [0] * 24
    for quarter, count in rows:
        local = datetime.fromtimestamp(int(quarter) * BUCKET_S, UTC).astimezone(zone)
        per_day[local.date()] = per_day.get(local.date(), 0) + int(count)
        per_hour[local.hour] += int(count)
    return sorted(per_day.items()), per_hour
