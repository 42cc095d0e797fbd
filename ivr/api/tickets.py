"""Reading repair orders (报修单) and complaint tickets: filters, keyset pages, JSON shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from ivr.api.params import (
    DEFAULT_LIMIT,
    encode_cursor,
    enum_value,
    iso,
    older_than,
    one_page,
    optional_cursor,
    page_size,
    period,
    row_id,
    switch,
)
from ivr.models import Ticket, TicketKind, TicketLog, TicketPriority, TicketStatus, Unit
from ivr.residents import normalise_phone
from ivr.tickets import service_levels

OPEN_STATUSES = tuple(status for status in TicketStatus if status.is_open)
NEWEST_FIRST = (Ticket.created_at.desc(), Ticket.id.desc())


def unit_label_column() -> ColumnElement[str | None]:
    """The label `ticket_json` shows, in SQL: the registry unit's (3栋2单元501室), else as heard.

    Mirrors `ivr.models.residents.unit_label`.
    """
    entrance = case((Unit.entrance != "", Unit.entrance + "单元"), else_="")
    registry = Unit.building + "栋" + entrance + Unit.room + "室"
    return case((Unit.id.is_not(None), registry), else_=Ticket.unit_text)


def caller_number(raw: str) -> str:
    """The number as stored; a leading `+` left unencoded in the URL arrives as a space."""
    return normalise_phone("+" + raw[1:] if raw.startswith(" ") else raw)


def _breached(wanted: bool | None) -> ColumnElement[bool] | None:
    if wanted is None:
        return None
    return Ticket.breached_at.is_not(None) if wanted else Ticket.breached_at.is_(None)


def _still_open(wanted: bool | None) -> ColumnElement[bool] | None:
    if wanted is None:
        return None
    return Ticket.status.in_(OPEN_STATUSES) if wanted else Ticket.status.not_in(OPEN_STATUSES)


@dataclass(frozen=True)
class TicketFilters:
    since: datetime | None = None
    until: datetime | None = None
    kind: TicketKind | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    breached: bool | None = None
    still_open: bool | None = None
    unit: str | None = None
    caller: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, int] | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> TicketFilters:
        since, until = period(args, zone)
        return cls(
            since=since,
            until=until,
            kind=enum_value(TicketKind, args.get("kind"), "kind"),
            status=enum_value(TicketStatus, args.get("status"), "status"),
            priority=enum_value(TicketPriority, args.get("priority"), "priority"),
            breached=switch(args.get("breached"), "breached"),
            still_open=switch(args.get("open"), "open"),
            unit=args.get("unit", "").strip() or None,
            caller=caller_number(args["caller"]) if args.get("caller", "").strip() else None,
            limit=page_size(args.get("limit")),
            cursor=optional_cursor(args),
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        checks = [
            Ticket.created_at >= self.since if self.since else None,
            Ticket.created_at < self.until if self.until else None,
            Ticket.kind == self.kind if self.kind else None,
            Ticket.status == self.status if self.status else None,
            Ticket.priority == self.priority if self.priority else None,
            _breached(self.breached),
            _still_open(self.still_open),
            unit_label_column().contains(self.unit, autoescape=True) if self.unit else None,
            Ticket.caller_number == self.caller if self.caller else None,
            older_than(self.cursor, Ticket.created_at, Ticket.id) if self.cursor else None,
        ]
        return [check for check in checks if check is not None]

    def query(self) -> Select[Ticket]:
        return (
            select(Ticket)
            .outerjoin(Unit, Ticket.unit_id == Unit.id)
            .options(contains_eager(Ticket.unit))
            .where(*self.conditions())
            .order_by(*NEWEST_FIRST)
            .limit(self.limit + 1)
        )


def ticket_unit_label(ticket: Ticket) -> str | None:
    return ticket.unit.label if ticket.unit else ticket.unit_text


def _report(ticket: Ticket) -> dict[str, Any]:
    """What was reported, by whom, for which unit."""
    return {
        "unit": ticket_unit_label(ticket),
        "unit_id": ticket.unit_id,
        "resident_id": ticket.resident_id,
        "caller_number": ticket.caller_number,
        "description": ticket.description,
        "recording_url": ticket.recording_url,
        "transcription": ticket.transcription,
        "appointment_slot": ticket.appointment_slot,
        "appointment_start": iso(ticket.appointment_start),
        "appointment_end": iso(ticket.appointment_end),
        "call_sid": ticket.call_sid,
    }


def _deadlines(ticket: Ticket) -> dict[str, Any]:
    """R5/R6 promises and when they were kept."""
    return {
        "created_at": iso(ticket.created_at),
        "dispatch_by": iso(ticket.dispatch_by),
        "on_site_by": iso(ticket.on_site_by),
        "resolve_by": iso(ticket.resolve_by),
        "return_visit_due": iso(ticket.return_visit_due),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
    }


def _escalation(ticket: Ticket) -> dict[str, Any]:
    """Who owns the ticket on the R6 ladder, and the service-level flags."""
    return {
        "escalation_level": ticket.escalation_level,
        "escalation_role": service_levels().complaint_levels.get(ticket.escalation_level),
        "escalation_due": iso(ticket.escalation_due),
        "acknowledged_at": iso(ticket.acknowledged_at),
        "breach_warned_at": iso(ticket.breach_warned_at),
        "breached_at": iso(ticket.breached_at),
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "kind": ticket.kind.value,
        "priority": ticket.priority.value,
        "category": ticket.category,
        "sla_tier": ticket.sla_tier,
        "status": ticket.status.value,
        **_report(ticket),
        **_deadlines(ticket),
        **_escalation(ticket),
    }


def log_entry_json(entry: TicketLog) -> dict[str, Any]:
    return {"at": iso(entry.at), "kind": entry.kind, "detail": entry.detail}


def list_tickets(session: Session, filters: TicketFilters) -> dict[str, Any]:
    page, more = one_page(list(session.scalars(filters.query())), filters.limit)
    return {
        "tickets": [ticket_json(ticket) for ticket in page],
        "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    }


def _with_history() -> Select[Ticket]:
    return select(Ticket).options(selectinload(Ticket.unit), selectinload(Ticket.log))


def _by_id(session: Session, key: str) -> Ticket | None:
    ident = row_id(key)  # numbers with a leading zero (0105001) are ticket numbers
    if ident is None:
        return None
    return session.scalars(_with_history().where(Ticket.id == ident)).first()


def _newest_by_number(session: Session, key: str) -> Ticket | None:
    """Numbers restart every year, so one may name several tickets: the newest wins."""
    number = key.strip().upper()
    query = _with_history().where(Ticket.number == number).order_by(*NEWEST_FIRST).limit(1)
    return session.scalars(query).first()


def find_ticket(session: Session, key: str) -> Ticket | None:
    """By row id; failing that, by ticket number (1123001)."""
    return _by_id(session, key) or _newest_by_number(session, key)


def ticket_detail(session: Session, key: str) -> dict[str, Any] | None:
    ticket = find_ticket(session, key)
    if ticket is None:
        return None
    return {**ticket_json(ticket), "log": [log_entry_json(entry) for entry in ticket.log]}
