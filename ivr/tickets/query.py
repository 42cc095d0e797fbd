"""Finding tickets (R5, R6): the filters the API and the console share, where a ticket stands
against its deadlines, finding one by id or number, and keyset pages newest first
(ivr.store.filters.Keyset, on created_at and id).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from ivr.core import labels
from ivr.models import Ticket, TicketKind, TicketPriority, TicketStatus, Unit
from ivr.store.filters import (
    Cursor,
    FilterError,
    Keyset,
    KeysetPage,
    enum_value,
    period,
    phone_condition,
    row_id,
    switch,
    typed_number,
    whole_number,
)
from ivr.tickets.lifecycle import AWAITING_VISIT, next_deadline, service_levels

PAGE_SIZE = 50
TICKETS_BY_CREATION: Keyset[Ticket] = Keyset(Ticket.created_at, Ticket.id)
OPEN_STATUSES = tuple(status for status in TicketStatus if status.is_open)
LEVELS = (1, 2, 3)
MAX_UNIT_LENGTH = 64


class SlaState(StrEnum):
    BREACHED = "breached"  # flagged past its deadline
    AT_RISK = "at_risk"  # open, and its next deadline falls within the warning window


# --- deadlines ------------------------------------------------------------------------------


def risk_horizon(now: datetime) -> datetime:
    return now + service_levels().warn_before


def at_risk(now: datetime) -> ColumnElement[bool]:
    """Open, not flagged late yet, and the next deadline within the warning window."""
    horizon = risk_horizon(now)
    visit_due = and_(Ticket.status.in_(AWAITING_VISIT), Ticket.on_site_by <= horizon)
    return and_(
        Ticket.status.in_(OPEN_STATUSES),
        Ticket.breached_at.is_(None),
        or_(visit_due, Ticket.resolve_by <= horizon),
    )


def sla_state(ticket: Ticket, now: datetime) -> SlaState | None:
    """The row's side of `sla_condition`."""
    if ticket.breached_at is not None:
        return SlaState.BREACHED
    deadline = next_deadline(ticket)
    if ticket.status.is_open and deadline is not None and deadline <= risk_horizon(now):
        return SlaState.AT_RISK
    return None


# --- the filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketListFilters:
    """Which tickets to list. Every field narrows the list; an empty filter lists them all.
    The console reads them all from its query string; the API documents a few of them and
    reads those its own way (ivr/api/tickets.py)."""

    since: datetime | None = None
    until: datetime | None = None
    kind: TicketKind | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    category: str = ""
    breached: bool | None = None  # missed (True) or kept (False) its deadline
    sla: SlaState | None = None
    still_open: bool | None = None
    level: int | None = None
    unit: str = ""  # part of the unit's label
    caller: str = ""  # the caller's whole number, as stored
    number: str = ""  # a ticket number, or a caller's number or its last digits

    @classmethod
    def from_shared_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> TicketListFilters:
        """When the ticket was opened, its kind, status and priority: the parameters the API
        and the console read alike."""
        since, until = period(args, zone)
        return cls(
            since=since,
            until=until,
            kind=enum_value(TicketKind, args.get("kind"), "kind"),
            status=enum_value(TicketStatus, args.get("status"), "status"),
            priority=enum_value(TicketPriority, args.get("priority"), "priority"),
        )

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo) -> TicketListFilters:
        """The console's query string; a FilterError names the parameter that is wrong."""
        return dataclasses.replace(
            cls.from_shared_args(args, zone),
            category=ticket_category(args.get("category", "")),
            sla=enum_value(SlaState, args.get("sla"), "sla"),
            still_open=switch(args.get("open"), "open"),
            level=escalation_level(args.get("level", "")),
            unit=unit_text(args.get("unit", "")),
            number=typed_number(
                args.get("number", ""),
                "number must be a ticket number, or a phone number or its last digits (at least 3)",
            ),
        )

    def conditions(self, now: datetime) -> list[ColumnElement[bool]]:
        """`now` is when the list is read: tickets at risk are judged against it."""
        wanted: list[ColumnElement[bool] | None] = [
            Ticket.created_at >= self.since if self.since else None,
            Ticket.created_at < self.until if self.until else None,
            Ticket.kind == self.kind if self.kind else None,
            Ticket.status == self.status if self.status else None,
            Ticket.priority == self.priority if self.priority else None,
            Ticket.category == self.category if self.category else None,
            breached_condition(self.breached) if self.breached is not None else None,
            sla_condition(self.sla, now) if self.sla else None,
            open_condition(self.still_open) if self.still_open is not None else None,
            Ticket.escalation_level == self.level if self.level else None,
            unit_label_column().contains(self.unit, autoescape=True) if self.unit else None,
            Ticket.caller_number == self.caller if self.caller else None,
            number_condition(self.number) if self.number else None,
        ]
        return [condition for condition in wanted if condition is not None]

    def query(self, now: datetime) -> Select[Ticket]:
        """Tickets with their registry units loaded, for `ticket_unit_label`."""
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


def unit_label_column() -> ColumnElement[str | None]:
    """The label a ticket shows, in SQL: the registry unit's (3栋2单元501室), else as heard.

    Mirrors `ivr.models.residents.unit_label`.
    """
    entrance = case((Unit.entrance != "", Unit.entrance + "单元"), else_="")
    registry = Unit.building + "栋" + entrance + Unit.room + "室"
    return case((Unit.id.is_not(None), registry), else_=Ticket.unit_text)


def breached_condition(breached: bool) -> ColumnElement[bool]:
    return Ticket.breached_at.is_not(None) if breached else Ticket.breached_at.is_(None)


def sla_condition(sla: SlaState, now: datetime) -> ColumnElement[bool]:
    return breached_condition(True) if sla == SlaState.BREACHED else at_risk(now)


def open_condition(still_open: bool) -> ColumnElement[bool]:
    if still_open:
        return Ticket.status.in_(OPEN_STATUSES)
    return Ticket.status.not_in(OPEN_STATUSES)


def number_condition(number: str) -> ColumnElement[bool]:
    """The caller's number, whole (+8613800138000, 13800138000) or the last digits people
    remember; the last digits may also be the ticket's own number."""
    by_caller = phone_condition(Ticket.caller_number, number)
    return by_caller if whole_number(number) else (Ticket.number == number) | by_caller


# --- one ticket -----------------------------------------------------------------------------


def ticket_unit_label(ticket: Ticket) -> str | None:
    return ticket.unit.label if ticket.unit else ticket.unit_text


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
    query = TICKETS_BY_CREATION.newest_first(_with_history().where(Ticket.number == number))
    return session.scalars(query.limit(1)).first()


def find_ticket(session: Session, key: str) -> Ticket | None:
    """By row id; failing that, by ticket number (1123001). Its unit and log are loaded."""
    return _by_id(session, key) or _newest_by_number(session, key)


# --- keyset pages ---------------------------------------------------------------------------


def ticket_page(
    session: Session,
    filters: TicketListFilters,
    now: datetime,
    older: Cursor | None = None,
    newer: Cursor | None = None,
) -> KeysetPage[Ticket]:
    """Newest first, PAGE_SIZE at a time, each page starting where the last one ended."""
    return TICKETS_BY_CREATION.page(session, filters.query(now), PAGE_SIZE, older, newer)
