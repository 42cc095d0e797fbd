"""Callbacks only for an unmet need, with windows that mean something: a caller who hung up
at the greeting is owed nothing; one who chose a purpose is called back within 15 minutes
in office hours (of the opening otherwise); an emergency caller at once and first in line,
and so is the message left when nobody on duty answered. None is overdue at birth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from ivr.core.clock import FrozenClock
from ivr.models import Callback
from tests.call_walk import Walk
from tests.conftest import SHANGHAI, services_of
from tests.twilio_fake import TwilioFake


@dataclass(frozen=True)
class Owed:
    queue: str | None
    important: bool
    due_at: datetime
    next_attempt_at: datetime | None
    keeps_place: bool


def owed(app: Flask) -> list[Owed]:
    with services_of(app).db.session() as session:
        return [
            Owed(row.queue, row.important, row.due_at, row.next_attempt_at, row.keeps_place)
            for row in session.scalars(select(Callback).order_by(Callback.id))
        ]


def test_hanging_up_at_the_greeting_owes_nothing(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    Walk(twilio, "CA501").start().hang_up("4")
    run_jobs()
    assert owed(app) == []


def test_a_caller_who_chose_a_purpose_is_called_back_within_15_minutes(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    Walk(twilio, "CA502").start().press("2").hang_up("20")  # a complaint, then gone
    run_jobs()
    assert owed(app) == [Owed("complaint", False, clock.now() + timedelta(minutes=15), None, False)]


def test_out_of_hours_the_window_starts_when_the_office_opens(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 15, tzinfo=SHANGHAI))
    Walk(twilio, "CA503").start().press("3").hang_up("20")
    run_jobs()
    opening = datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI)
    assert [(o.queue, o.due_at) for o in owed(app)] == [
        ("inquiry", opening + timedelta(minutes=15))
    ]


def test_an_emergency_caller_who_hung_up_is_called_back_at_once_and_first(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    Walk(twilio, "CA504").start().press("1").press("1").hang_up("25")  # the emergency menu
    run_jobs()
    now = clock.now()
    assert owed(app) == [Owed("emergency", True, now + timedelta(minutes=5), now, True)]
    assert all(o.due_at > now for o in owed(app))


def test_twice_in_a_day_about_the_same_thing_is_one_callback(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    Walk(twilio, "CA505").start().press("2").hang_up("20")
    clock.advance(minutes=3)
    Walk(twilio, "CA506").start().press("2").hang_up("20")
    run_jobs()
    assert len(owed(app)) == 1
