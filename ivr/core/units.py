"""A unit's written form, 3栋2单元501室: how staff write it, and its parts read back, so a
caller can hear it in their own language (Block 3, Entrance 2, Flat 501)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WRITTEN = re.compile(r"^(?P<building>[^栋]+)栋(?:(?P<entrance>[^单]+)单元)?(?P<room>.+)室$")


@dataclass(frozen=True)
class UnitParts:
    building: str
    entrance: str
    room: str


def unit_label(building: str, entrance: str, room: str) -> str:
    """The way staff write a unit: 3栋2单元501室 (3栋501室 without an entrance)."""
    middle = f"{entrance}单元" if entrance else ""
    return f"{building}栋{middle}{room}室"


def unit_parts(label: str) -> UnitParts | None:
    """The parts of a label written as `unit_label` writes it; None for free text."""
    found = _WRITTEN.match(label.strip())
    if found is None:
        return None
    return UnitParts(found["building"], found["entrance"] or "", found["room"])
