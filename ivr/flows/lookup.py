"""What the engine may ask about callers and their tickets, answered from memory.

The web process keeps an in-memory snapshot of the residents registry and the
open tickets (refreshed in the background); the engine only sees this interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Household:
    """A resident at a unit, as the IVR needs them."""

    unit_id: int | None
    label: str  # 3栋2单元501室
    resident_id: int | None = None
    language: str = ""


@dataclass(frozen=True)
class OpenTicket:
    number: str
    kind: str  # repair | complaint
    status: str
    appointment_start: datetime | None = None
    appointment_end: datetime | None = None
    emergency: bool = False


class CallerLookup(Protocol):
    def households(self, phone: str) -> Sequence[Household]:
        """Households this phone number belongs to (empty for unknown callers)."""
        ...

    def unit_by_keypad(self, building: str, room: str) -> Household | None:
        """The unit a caller typed as building digits and room digits, if it exists."""
        ...

    def units_keyed_in(self, building: str, entrance: str, room: str) -> Sequence[Household]:
        """Every unit these digits may name; without an entrance, each entrance's."""
        ...

    def open_tickets(self, phone: str) -> Sequence[OpenTicket]: ...

    def ticket(self, number: str) -> OpenTicket | None: ...

    def ticket_exists(self, number: str) -> bool:
        """Whether any ticket, open or finished, has this number."""
        ...

    def seconds_to_answer(self, queue: str) -> int | None:
        """How long answered callers of this queue waited lately; None without history."""
        ...


class NobodyKnown:
    """An empty registry: every caller is unknown, and still served."""

    def households(self, phone: str) -> Sequence[Household]:
        return ()

    def unit_by_keypad(self, building: str, room: str) -> Household | None:
        return None

    def units_keyed_in(self, building: str, entrance: str, room: str) -> Sequence[Household]:
        return ()

    def open_tickets(self, phone: str) -> Sequence[OpenTicket]:
        return ()

    def ticket(self, number: str) -> OpenTicket | None:
        return None

    def ticket_exists(self, number: str) -> bool:
        return False

    def seconds_to_answer(self, queue: str) -> int | None:
        return None
