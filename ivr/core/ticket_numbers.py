"""Ticket numbers as callers hear them: the month and day plus a sequence of that day
(1123007: sequence 7 on 23 November), read digit by digit. Who hands them out during a
call is a `TicketNumbering` (ivr.tickets.numbers leases them in blocks)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol


class TicketNumbering(Protocol):
    def for_call(self, call_sid: str, kind: str, local_day: datetime) -> str | None:
        """This call's number for a ticket of this kind, the same on every replay, or None
        when no number is at hand (the caller is then told it comes by SMS)."""


def day_key(day: date) -> str:
    return f"{day:%m%d}"


def number_for(day: date, sequence: int) -> str:
    return f"{day_key(day)}{sequence:03d}"


def spoken_digits(number: str) -> str:
    """Digit by digit, so TTS does not read 1123007 as one million…"""
    return " ".join(number)
