"""The calls and tickets a report names: the longest waits, the dissatisfied callers, the
tickets that broke their deadline, with numbers masked (R3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.core.events import EventKind
from ivr.models import (
    Call,
    CallEventRow,
    Ticket,
    TicketKind,
    TicketPriority,
)
from ivr.registry.privacy import mask_number
from ivr.reporting.kpi import inbound_in
from ivr.reporting.periods import Period


@dataclass(frozen=True)
class NotableCall:
    call_sid: str
    started_at: datetime  # in the hotline's zone
    caller: str  # masked
    unit: str
    category: str
    outcome: str
    waited_s: int | None = None
    satisfaction: int | None = None


@dataclass(frozen=True)
class NotableTicket:
    number: str
    kind: str
    category: str
    priority: str
    sla_tier: str
    status: str
    created_at: datetime  # in the hotline's zone
    resolve_by: datetime | None
    breached_at: datetime | None
    escalation_level: int
    caller: str  # masked
    unit: str


@dataclass(frozen=True)
class Notable:
    longest_waits: list[NotableCall]
    dissatisfied: list[NotableCall]
    breaches: list[NotableTicket]
    major_complaints: list[NotableTicket]
    emergencies: list[NotableTicket]


def notable(session: Session, period: Period, settings: Settings, limit: int = 10) -> Notable:
    """The calls and tickets a supervisor should look at: each list its top `limit`."""
    zone = settings.timezone
    complaint = Ticket.kind == TicketKind.COMPLAINT
    major = and_(complaint, or_(Ticket.sla_tier == "major", Ticket.escalation_level >= 3))
    emergency = Ticket.priority == TicketPriority.EMERGENCY
    opened = period.contains(Ticket.created_at)
    return Notable(
        longest_waits=_longest_waits(session, period, zone, limit),
        dissatisfied=_dissatisfied(session, period, zone, limit),
        breaches=_tickets(session, period.contains(Ticket.breached_at), zone, limit),
        major_complaints=_tickets(session, and_(opened, major), zone, limit),
        emergencies=_tickets(session, and_(opened, emergency), zone, limit),
    )


def _notable_call(call: Call, zone: tzinfo, **extra: Any) -> NotableCall:
    return NotableCall(
        call_sid=call.call_sid,
        started_at=call.started_at.astimezone(zone),
        caller=mask_number(call.caller_number),
        unit=call.unit or "",
        category=call.category.value if call.category else "",
        outcome=call.outcome.value if call.outcome else "",
        satisfaction=call.satisfaction,
        **extra,
    )


def _longest_waits(session: Session, period: Period, zone: tzinfo, limit: int) -> list[NotableCall]:
    waited = CallEventRow.detail["waited_s"].as_integer()
    rows = session.execute(
        select(Call, waited)
        .join(CallEventRow, CallEventRow.call_sid == Call.call_sid)
        .where(
            inbound_in(period),
            CallEventRow.kind == EventKind.QUEUE_RESULT.value,
            waited.is_not(None),
        )
        .order_by(waited.desc(), Call.started_at)
        .limit(limit)
    ).all()
    return [_notable_call(call, zone, waited_s=int(wait)) for call, wait in rows]


def _dissatisfied(session: Session, period: Period, zone: tzinfo, limit: int) -> list[NotableCall]:
    calls = session.scalars(
        select(Call)
        .where(inbound_in(period), Call.satisfaction == 3)
        .order_by(Call.started_at)
        .limit(limit)
    ).all()
    return [_notable_call(call, zone) for call in calls]


def _tickets(
    session: Session, condition: ColumnElement[bool], zone: tzinfo, limit: int
) -> list[NotableTicket]:
    tickets = session.scalars(
        select(Ticket).where(condition).order_by(Ticket.created_at, Ticket.id).limit(limit)
    ).all()
    return [_notable_ticket(ticket, zone) for ticket in tickets]


def _local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    return moment.astimezone(zone) if moment else None


def _notable_ticket(ticket: Ticket, zone: tzinfo) -> NotableTicket:
    return NotableTicket(
        number=ticket.number,
        kind=ticket.kind.value,
        category=ticket.category,
        priority=ticket.priority.value,
        sla_tier=ticket.sla_tier,
        status=ticket.status.value,
        created_at=ticket.created_at.astimezone(zone),
        resolve_by=_local(ticket.resolve_by, zone),
        breached_at=_local(ticket.breached_at, zone),
        escalation_level=ticket.escalation_level,
        caller=mask_number(ticket.caller_number),
        unit=ticket.unit_text or "",
    )
