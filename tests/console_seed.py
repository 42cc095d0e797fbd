"""Rows for the console's page tests, written straight to the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from ivr.models import Ticket, TicketKind, TicketPriority, TicketStatus
from ivr.services import services
from tests.conftest import SHANGHAI

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # the test clock's moment


def add_rows(app: Flask, *rows: Any) -> None:
    with app.app_context(), services().db.session() as session:
        session.add_all(rows)


def ticket(number: str, **fields: Any) -> Ticket:
    """An open repair order opened three hours ago; `fields` say how this one differs."""
    values: dict[str, Any] = {
        "number": number,
        "number_year": 2026,
        "kind": TicketKind.REPAIR,
        "priority": TicketPriority.NORMAL,
        "category": "water",
        "sla_tier": "major",
        "status": TicketStatus.OPEN,
        "caller_number": "+8613800138000",
        "created_at": NOW - timedelta(hours=3),
        "escalation_level": 1,
    }
    return Ticket(**(values | fields))
