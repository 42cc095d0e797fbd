"""Whether the customer-service office is staffed right now (R10)."""

from __future__ import annotations

from datetime import datetime

from ivr.config import Settings


def office_is_open(settings: Settings, moment: datetime) -> bool:
    local = moment.astimezone(settings.timezone).time()
    hours = settings.business_hours
    return hours.opens <= local < hours.closes
