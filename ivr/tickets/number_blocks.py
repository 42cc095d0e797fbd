"""Leasing runs of a day's ticket sequences from the database (see ivr.tickets.numbers).

Two processes leasing at once both read the same highest sequence; the unique (day,
first) constraint lets one of them in and the other tries again above it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.core.clock import Clock
from ivr.core.ticket_numbers import day_key
from ivr.models import Ticket, TicketNumberBlock, UTCDateTime
from ivr.store.db import Database
from ivr.tickets.numbers import Lease, holder_name

ATTEMPTS = 20


class TicketNumbersExhaustedError(RuntimeError):
    """Leasing kept colliding with other processes: try again later."""


def lease_in(session: Session, day: date, size: int, now: datetime) -> range:
    """A run of `size` sequences of `day` that no other process or ticket has, inside
    the caller's transaction (the worker numbers a ticket in the same unit of work).

    One INSERT … SELECT takes the next run: on SQLite it runs under the single writer's
    lock, so it cannot collide; on PostgreSQL two may, and the loser tries again in a
    savepoint, leaving the caller's transaction intact."""
    key = f"{day:%Y%m%d}"
    base = _highest_ticket(session, day) if _first_of_day(session, key) else 0
    if session.get_bind().dialect.name != "postgresql":
        return _take_next(session, key, base, size, now)
    for _ in range(ATTEMPTS):
        try:
            with session.begin_nested():
                return _take_next(session, key, base, size, now)
        except IntegrityError:
            continue
    raise TicketNumbersExhaustedError(f"could not lease ticket numbers for {day:%Y-%m-%d}")


def _take_next(session: Session, key: str, base: int, size: int, now: datetime) -> range:
    blocks = TicketNumberBlock
    top = func.coalesce(func.max(blocks.last), base)
    following = select(
        literal(key),
        top + 1,
        top + size,
        literal(holder_name()),
        literal(now, UTCDateTime()),
    ).where(blocks.day == key)
    statement = (
        insert(blocks)
        .from_select(["day", "first", "last", "holder", "leased_at"], following)
        .returning(blocks.first)
    )
    first = int(session.execute(statement).scalar_one())
    return range(first, first + size)


def _first_of_day(session: Session, key: str) -> bool:
    return (
        session.scalar(select(TicketNumberBlock.id).where(TicketNumberBlock.day == key).limit(1))
        is None
    )


def _highest_ticket(session: Session, day: date) -> int:
    """Above any ticket numbered before blocks existed (or by hand) on that day."""
    prefix = day_key(day)
    numbers = session.scalars(
        select(Ticket.number).where(
            Ticket.number_year == day.year, Ticket.number.like(f"{prefix}%")
        )
    )
    return max((int(n[4:]) for n in numbers if n[4:].isdigit()), default=0)


def database_lease(db: Database, clock: Clock) -> Lease:
    def lease(day: date, size: int) -> range:
        with db.session() as session:
            return lease_in(session, day, size, clock.now())

    return lease
