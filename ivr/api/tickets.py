"""Reading repair orders (报修单) and complaint tickets: the API's filters, its pages and JSON
shapes. Finding the tickets is shared with the console (ivr/tickets/query.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from ivr.api.params import (
    DEFAULT_LIMIT,
    encode_cursor,
    iso,
    one_page,
    optional_cursor,
    page_size,
    switch,
)
from ivr.models import Ticket, TicketLog
from ivr.registry.residents import normalise_phone
from ivr.tickets.lifecycle import service_levels
from ivr.tickets.query import (
    TICKETS_BY_CREATION,
    TicketListFilters,
    find_ticket,
    ticket_unit_label,
)
from ivr.tickets.workflow import steps_from


def caller_number(raw: str) -> str:
    """The number as stored; a leading `+` left unencoded in the URL arrives as a space."""
    return normalise_phone("+" + raw[1:] if raw.startswith(" ") else raw)


@dataclass(frozen=True)
class TicketFilters:
    """The API's documented filters over the console's shared ticket filters, with its own
    page size."""

    listing: TicketListFilters = field(default_factory=TicketListFilters)
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, int] | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> TicketFilters:
        listing = replace(
            TicketListFilters.from_shared_args(args, zone),
            breached=switch(args.get("breached"), "breached"),
            still_open=switch(args.get("open"), "open"),
            unit=args.get("unit", "").strip(),
            caller=caller_number(args["caller"]) if args.get("caller", "").strip() else "",
        )
        return cls(listing, limit=page_size(args.get("limit")), cursor=optional_cursor(args))

    def query(self, now: datetime) -> Select[Ticket]:
        newest = TICKETS_BY_CREATION.newest_first(self.listing.query(now), self.cursor)
        return newest.limit(self.limit + 1)


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


def _work(ticket: Ticket) -> dict[str, Any]:
    """The work order's own steps: who was sent, when they came, what they did."""
    technician = ticket.technician
    return {
        "technician": technician.username if technician else None,
        "technician_name": technician.display_name if technician else None,
        "dispatched_at": iso(ticket.dispatched_at),
        "on_site_at": iso(ticket.on_site_at),
        "investigated_at": iso(ticket.investigated_at),
        "cancelled_at": iso(ticket.cancelled_at),
        "work_note": ticket.work_note or "",
        "materials": ticket.materials or "",
        "fee": f"{ticket.fee_fen / 100:.2f}" if ticket.fee_fen is not None else None,
        "next_steps": [status.value for status in steps_from(ticket)],
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
        **_work(ticket),
    }


def log_entry_json(entry: TicketLog) -> dict[str, Any]:
    return {"at": iso(entry.at), "kind": entry.kind, "detail": entry.detail}


def list_tickets(session: Session, filters: TicketFilters, now: datetime) -> dict[str, Any]:
    page, more = one_page(list(session.scalars(filters.query(now))), filters.limit)
    return {
        "tickets": [ticket_json(ticket) for ticket in page],
        "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    }


def ticket_detail(session: Session, key: str) -> dict[str, Any] | None:
    ticket = find_ticket(session, key)
    if ticket is None:
        return None
    return {**ticket_json(ticket), "log": [log_entry_json(entry) for entry in ticket.log]}
