"""Who is calling: an in-memory snapshot of the residents registry and open tickets.

A `/voice/*` webhook never runs SQL (R1: the greeting within three rings, even
while the database is slow), so webhooks read a `Directory` held in memory. A
daemon thread in each web process rebuilds it from the database every few
seconds and swaps it in whole; a failed rebuild keeps the snapshot it had.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.core.events import EventKind
from ivr.flows import lookup as flow_lookup
from ivr.models import (
    CallEventRow,
    Resident,
    Ticket,
    TicketKind,
    TicketPriority,
    TicketStatus,
    Unit,
    unit_label,
)
from ivr.registry.residents import normalise_phone, place_text
from ivr.store.db import Database

log = logging.getLogger(__name__)

ANSWER_WAIT_WINDOW = timedelta(hours=2)

DEFAULT_REFRESH_S = 15.0
OPEN_STATUSES = tuple(status for status in TicketStatus if status.is_open)

_NOT_DIGIT = re.compile(r"[^0-9]")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class UnitEntry:
    unit_id: int
    building: str
    entrance: str
    room: str

    @property
    def label(self) -> str:
        return unit_label(self.building, self.entrance, self.room)


@dataclass(frozen=True)
class Household:
    """One resident in one unit: a phone that owns two units has two households."""

    resident_id: int
    name: str
    phone: str
    language: str
    unit_id: int
    building: str
    entrance: str
    room: str
    label: str


@dataclass(frozen=True)
class OpenTicket:
    ticket_id: int
    number: str
    kind: TicketKind
    status: TicketStatus
    created_at: datetime
    appointment_start: datetime | None
    appointment_end: datetime | None
    unit_label: str
    caller_number: str
    emergency: bool = False


def keypad_digits(text: str) -> str:
    """What a caller can type for `text` on a keypad: its digits only ("A3" -> "3")."""
    return _NOT_DIGIT.sub("", text)


def _place_key(text: str) -> str:
    return place_text(text.strip())


def _frozen_index(pairs: Iterable[tuple[K, V]]) -> Mapping[K, tuple[V, ...]]:
    grouped: defaultdict[K, list[V]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return MappingProxyType({key: tuple(values) for key, values in grouped.items()})


@dataclass(frozen=True)
class Directory:
    """An immutable snapshot; every lookup is a dictionary read."""

    households_by_phone: Mapping[str, tuple[Household, ...]]
    units_by_place: Mapping[tuple[str, str, str], UnitEntry]
    units_by_building_room: Mapping[tuple[str, str], tuple[UnitEntry, ...]]
    units_by_keypad: Mapping[tuple[str, str], tuple[UnitEntry, ...]]
    tickets_by_phone: Mapping[str, tuple[OpenTicket, ...]]
    tickets_by_number: Mapping[str, tuple[OpenTicket, ...]]
    tickets_by_keypad: Mapping[str, tuple[OpenTicket, ...]]
    # Per queue, how long answered callers waited lately (seconds): the wait estimate.
    answer_waits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # Every ticket's number, finished ones too (upper case and keypad digits), so a caller
    # who asks about a number we never issued is told so.
    ticket_numbers: frozenset[str] = frozenset()

    @classmethod
    def empty(cls) -> Directory:
        """What a process knows before its first successful load: nobody."""
        return cls.build((), (), ())

    @classmethod
    def build(
        cls,
        households: Iterable[Household],
        units: Iterable[UnitEntry],
        tickets: Iterable[OpenTicket],
    ) -> Directory:
        """Index plain records; households and units oldest first, tickets newest first."""
        people = sorted(households, key=lambda h: h.resident_id)
        homes = sorted(units, key=lambda u: u.unit_id)
        orders = sorted(tickets, key=lambda t: (t.created_at, t.ticket_id), reverse=True)
        return cls(
            households_by_phone=_frozen_index((normalise_phone(h.phone), h) for h in people),
            units_by_place=MappingProxyType({(u.building, u.entrance, u.room): u for u in homes}),
            units_by_building_room=_frozen_index(((u.building, u.room), u) for u in homes),
            units_by_keypad=_frozen_index(
                ((keypad_digits(u.building), keypad_digits(u.room)), u) for u in homes
            ),
            tickets_by_phone=_frozen_index(
                (normalise_phone(t.caller_number), t) for t in orders if t.caller_number
            ),
            tickets_by_number=_frozen_index((t.number.upper(), t) for t in orders),
            tickets_by_keypad=_frozen_index((keypad_digits(t.number), t) for t in orders),
        )

    # --- callers ----------------------------------------------------------------------

    def households_for(self, phone: str) -> tuple[Household, ...]:
        """The caller's households, oldest registration first; () for an unknown caller."""
        return self.households_by_phone.get(normalise_phone(phone), ())

    def language_for(self, phone: str) -> str | None:
        """The caller's registered language, or None for an unknown caller."""
        households = self.households_for(phone)
        return households[0].language if households else None

    # --- units ------------------------------------------------------------------------

    def unit_at(self, building: str, entrance: str, room: str) -> UnitEntry | None:
        place = (_place_key(building), _place_key(entrance), _place_key(room))
        return self.units_by_place.get(place)

    def units_at(self, building: str, room: str) -> tuple[UnitEntry, ...]:
        """Every entrance's unit with this room number (each 单元 may have a 501)."""
        return self.units_by_building_room.get((_place_key(building), _place_key(room)), ())

    def units_keyed_in(
        self, building: str, room: str, entrance: str | None = None
    ) -> tuple[UnitEntry, ...]:
        """Units matching what a caller typed; letters in our data cannot be typed, so
        only digits count. Without an entrance, every entrance matches."""
        found = self.units_by_keypad.get((keypad_digits(building), keypad_digits(room)), ())
        if entrance is None:
            return found
        return tuple(u for u in found if keypad_digits(u.entrance) == keypad_digits(entrance))

    # --- open tickets -----------------------------------------------------------------

    def open_tickets_for(self, phone: str) -> tuple[OpenTicket, ...]:
        """Open tickets this number reported, newest first."""
        return self.tickets_by_phone.get(normalise_phone(phone), ())

    def open_ticket(self, number: str) -> OpenTicket | None:
        """The open ticket with this number (the newest, should a number recur by year)."""
        found = self.tickets_by_number.get(number.strip().upper(), ())
        return found[0] if found else None

    def has_ticket(self, number: str) -> bool:
        """Whether this number is a ticket's, open or finished."""
        key = number.strip().upper()
        return bool(key) and (
            key in self.ticket_numbers
            or key in self.tickets_by_number
            or keypad_digits(key) in self.ticket_numbers
        )

    def open_tickets_keyed_in(self, digits: str) -> tuple[OpenTicket, ...]:
        """Open tickets whose number's digits are what the caller typed."""
        key = keypad_digits(digits)
        return self.tickets_by_keypad.get(key, ()) if key else ()

    def summary(self) -> str:
        """Counts for the log: never names or numbers (R3, the record is confidential)."""
        residents = len({h.resident_id for hs in self.households_by_phone.values() for h in hs})
        tickets = len({t.ticket_id for ts in self.tickets_by_number.values() for t in ts})
        return f"{residents} residents, {len(self.units_by_place)} units, {tickets} open tickets"


# --- from the database --------------------------------------------------------------------


def load_directory(session: Session, now: datetime | None = None) -> Directory:
    """A few queries, read in one transaction so households and tickets agree."""
    directory = Directory.build(_households(session), _units(session), _open_tickets(session))
    waits = recent_answer_waits(session, now or datetime.now(UTC))
    numbers = frozenset(_ticket_numbers(session))
    return replace(directory, answer_waits=MappingProxyType(waits), ticket_numbers=numbers)


def _ticket_numbers(session: Session) -> Iterable[str]:
    for number in session.scalars(select(Ticket.number)):
        yield number.upper()
        yield keypad_digits(number)


def recent_answer_waits(session: Session, now: datetime) -> dict[str, int]:
    """The average wait of callers an agent answered in the last two hours, per queue."""
    since = now - ANSWER_WAIT_WINDOW
    rows = session.scalars(
        select(CallEventRow.detail).where(
            CallEventRow.kind == EventKind.QUEUE_RESULT.value, CallEventRow.at >= since
        )
    )
    waits: dict[str, list[int]] = defaultdict(list)
    for detail in rows:
        if (
            detail.get("result") == "bridged"
            and detail.get("queue")
            and isinstance(detail.get("waited_s"), int)
        ):
            waits[str(detail["queue"])].append(int(detail["waited_s"]))
    return {queue: round(sum(seconds) / len(seconds)) for queue, seconds in waits.items()}


def _households(session: Session) -> list[Household]:
    query = select(Resident, Unit).join(Unit, Resident.unit_id == Unit.id)
    return [_household(resident, unit) for resident, unit in session.execute(query)]


def _household(resident: Resident, unit: Unit) -> Household:
    return Household(
        resident_id=resident.id,
        name=resident.name,
        phone=resident.phone,
        language=resident.language,
        unit_id=unit.id,
        building=unit.building,
        entrance=unit.entrance,
        room=unit.room,
        label=unit.label,
    )


def _units(session: Session) -> list[UnitEntry]:
    return [
        UnitEntry(unit.id, unit.building, unit.entrance, unit.room)
        for unit in session.scalars(select(Unit))
    ]


def _open_tickets(session: Session) -> list[OpenTicket]:
    query = (
        select(Ticket, Unit)
        .outerjoin(Unit, Ticket.unit_id == Unit.id)
        .where(Ticket.status.in_(OPEN_STATUSES))
    )
    return [_open_ticket(ticket, unit) for ticket, unit in session.execute(query)]


def _open_ticket(ticket: Ticket, unit: Unit | None) -> OpenTicket:
    return OpenTicket(
        ticket_id=ticket.id,
        number=ticket.number,
        kind=ticket.kind,
        status=ticket.status,
        created_at=ticket.created_at,
        appointment_start=ticket.appointment_start,
        appointment_end=ticket.appointment_end,
        unit_label=unit.label if unit else ticket.unit_text or "",
        caller_number=ticket.caller_number,
        emergency=ticket.priority == TicketPriority.EMERGENCY,
    )


# --- the snapshot each web process holds ---------------------------------------------------


class DirectoryCache:
    """The current Directory, swapped whole, so a reader never sees half a refresh."""

    def __init__(self, initial: Directory | None = None) -> None:
        self._lock = threading.Lock()
        self._current = initial or Directory.empty()

    @property
    def current(self) -> Directory:
        with self._lock:
            return self._current

    def lookup(self) -> flow_lookup.CallerLookup:
        """For FlowEngine(lookup=cache.lookup): each call reads the newest snapshot."""
        return DirectoryLookup(self.current)

    def swap(self, directory: Directory) -> None:
        with self._lock:
            self._current = directory

    def refresh(self, db: Database, now: datetime | None = None) -> bool:
        """Rebuild from the database; on any failure keep the old snapshot and log why."""
        try:
            with db.reader() as session:
                fresh = load_directory(session, now)
        except SQLAlchemyError as exc:
            log.warning("caller directory not refreshed, keeping the old one: %s", exc)
            return False
        except Exception:  # a bad row must not take the callers' directory away
            log.exception("caller directory not refreshed, keeping the old one")
            return False
        self.swap(fresh)
        log.debug("caller directory refreshed: %s", fresh.summary())
        return True


def start_directory_refresher(
    cache: DirectoryCache,
    db: Database,
    interval_s: float = DEFAULT_REFRESH_S,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """A daemon thread in each web process that refreshes `cache` until `stop` is set."""
    stopping = stop or threading.Event()

    def loop() -> None:
        while not stopping.wait(interval_s):
            cache.refresh(db)

    thread = threading.Thread(target=loop, name="directory-refresher", daemon=True)
    thread.start()
    return thread


# --- what the flow engine sees ------------------------------------------------------------


class DirectoryLookup:
    """The engine's `CallerLookup`, answered from one snapshot."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def households(self, phone: str) -> Sequence[flow_lookup.Household]:
        return tuple(_engine_household(home) for home in self.directory.households_for(phone))

    def unit_by_keypad(self, building: str, room: str) -> flow_lookup.Household | None:
        """The one unit these digits name; None when unknown or when entrances share them."""
        found = self.directory.units_keyed_in(building, room)
        return (
            flow_lookup.Household(unit_id=found[0].unit_id, label=found[0].label)
            if len(found) == 1
            else None
        )

    def units_keyed_in(
        self, building: str, entrance: str, room: str
    ) -> Sequence[flow_lookup.Household]:
        found = self.directory.units_keyed_in(building, room, entrance or None)
        return tuple(flow_lookup.Household(unit_id=u.unit_id, label=u.label) for u in found)

    def open_tickets(self, phone: str) -> Sequence[flow_lookup.OpenTicket]:
        return tuple(_engine_ticket(ticket) for ticket in self.directory.open_tickets_for(phone))

    def ticket_exists(self, number: str) -> bool:
        return self.directory.has_ticket(number)

    def ticket(self, number: str) -> flow_lookup.OpenTicket | None:
        found = self.directory.open_ticket(number)
        return _engine_ticket(found) if found else None

    def seconds_to_answer(self, queue: str) -> int | None:
        return self.directory.answer_waits.get(queue)


def _engine_household(home: Household) -> flow_lookup.Household:
    return flow_lookup.Household(
        unit_id=home.unit_id, label=home.label, resident_id=home.resident_id, language=home.language
    )


def _engine_ticket(ticket: OpenTicket) -> flow_lookup.OpenTicket:
    return flow_lookup.OpenTicket(
        number=ticket.number,
        kind=ticket.kind.value,
        status=ticket.status.value,
        appointment_start=ticket.appointment_start,
        appointment_end=ticket.appointment_end,
        emergency=ticket.emergency,
    )
