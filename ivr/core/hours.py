"""Office hours (R10): business hours, holidays and the manual "closed" switch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ivr.config import Settings

NOON = time(12, 0)
AFTERNOON = time(13, 30)
MIN_LEAD = timedelta(hours=1)  # a same-day visit needs an hour's notice


def is_working_day(settings: Settings, day: date) -> bool:
    return day not in settings.holidays


def office_is_open(settings: Settings, moment: datetime) -> bool:
    if settings.closed:
        return False
    local = moment.astimezone(settings.timezone)
    hours = settings.business_hours
    return is_working_day(settings, local.date()) and hours.opens <= local.time() < hours.closes


def _at(settings: Settings, day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, settings.timezone)


def _working_days_from(settings: Settings, day: date) -> list[date]:
    days: list[date] = []
    current = day
    while len(days) < 2:
        if is_working_day(settings, current):
            days.append(current)
        current += timedelta(days=1)
    return days


def next_closing(settings: Settings, moment: datetime) -> datetime:
    """'The same day': today's closing time, or the next working day's if it has passed."""
    local = moment.astimezone(settings.timezone)
    for day in _working_days_from(settings, local.date()):
        closing = _at(settings, day, settings.business_hours.closes)
        if closing > local:
            return closing
    return _at(settings, local.date() + timedelta(days=1), settings.business_hours.closes)


def next_opening(settings: Settings, moment: datetime) -> datetime:
    """When a person can next take the call: now if open, else the next opening time."""
    if office_is_open(settings, moment):
        return moment
    local = moment.astimezone(settings.timezone)
    for day in _working_days_from(settings, local.date()):
        opening = _at(settings, day, settings.business_hours.opens)
        if opening > local:
            return opening
    return _at(settings, local.date() + timedelta(days=1), settings.business_hours.opens)


@dataclass(frozen=True)
class Slot:
    """A visit window offered to the resident (R5: a time agreed with the resident)."""

    id: str  # today_am, today_pm, tomorrow_am, tomorrow_pm, next_am, next_pm
    start: datetime
    end: datetime


def _windows(settings: Settings, day: date) -> list[tuple[str, datetime, datetime]]:
    hours = settings.business_hours
    return [
        ("am", _at(settings, day, max(hours.opens, time(8, 0))), _at(settings, day, NOON)),
        ("pm", _at(settings, day, AFTERNOON), _at(settings, day, min(hours.closes, time(18, 0)))),
    ]


def appointment_slots(settings: Settings, moment: datetime) -> list[Slot]:
    """Today (if a window is an hour away), then the next working day's morning and afternoon."""
    local = moment.astimezone(settings.timezone)
    today = local.date()
    slots: list[Slot] = []
    if is_working_day(settings, today):
        for half, start, end in _windows(settings, today):
            if start - MIN_LEAD >= local or (end - local >= 2 * MIN_LEAD and start <= local):
                slots.append(Slot(f"today_{half}", max(start, local + MIN_LEAD), end))
                break
    following = next(d for d in _working_days_from(settings, today + timedelta(days=1)))
    label = "tomorrow" if following == today + timedelta(days=1) else "next"
    slots += [
        Slot(f"{label}_{half}", start, end) for half, start, end in _windows(settings, following)
    ]
    return slots
