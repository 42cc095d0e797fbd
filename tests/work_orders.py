"""Work orders in tests: the estate's two technicians, a call that opens an order, a step
through the API, and the texts people were sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.intake.follow_up import follow_up_events
from ivr.models import (
    Callback,
    CallbackKind,
    CallbackStatus,
    OutboundMessage,
    Resident,
    StaffRole,
    Ticket,
    Unit,
    User,
)
from tests.api_client import api_post
from tests.conftest import SHANGHAI, services_of

RESIDENT = "+8613800138000"
PLUMBER, ELECTRICIAN = "+8613911110001", "+8613911110002"
SUPERVISORS = ("+8613700000001", "+8613700000002", "+8613700000003")
TOMORROW_AM = (
    datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI),
    datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI),
)


def hire_crew(make_user: Callable[..., User]) -> dict[str, User]:
    """张师傅 the plumber and 李师傅 the electrician."""
    return {
        "laozhang": make_user(
            "laozhang",
            role=StaffRole.TECHNICIAN,
            phone=PLUMBER,
            display_name="张师傅",
            trades=("water",),
        ),
        "xiaoli": make_user(
            "xiaoli",
            role=StaffRole.TECHNICIAN,
            phone=ELECTRICIAN,
            display_name="李师傅",
            trades=("electric",),
        ),
    }


def report(app: Flask, clock: FrozenClock, kind: str = "repair", category: str = "water") -> str:
    """A call from 王芳 at 3栋2单元501室 opens the ticket, as the call-log job does; returns
    its number."""
    found = services_of(app)
    sid = f"CA{kind}{category}"
    with found.db.session() as session:
        unit = Unit(building="3", entrance="2", room="501")
        session.add(unit)
        session.flush()
        resident = Resident(unit_id=unit.id, name="王芳", phone=RESIDENT)
        session.add(resident)
        session.flush()
        detail: dict[str, Any] = {
            "kind": kind,
            "number": "1123001",
            "caller": RESIDENT,
            "cat": category,
            "unit": str(unit.id),
            "who": str(resident.id),
            "locale": "zh-CN",
            "desc": "厨房水龙头一直滴水，关不紧" if kind == "repair" else "保安态度很差",
        }
        if kind == "repair":
            start, end = TOMORROW_AM
            detail |= {"slot": "tomorrow_am", "from": start.isoformat(), "to": end.isoformat()}
        events = [
            CallEvent(sid, EventKind.CALL_STARTED, clock.now(), detail={"from": RESIDENT}),
            CallEvent(sid, EventKind.TICKET_OPENED, clock.now(), seq=5, detail=detail),
        ]
        record_events(session, events)
        follow_up_events(session, events, found.settings, found.engine.catalogues)
    return "1123001"


def move(app: Flask, number: str, **body: str) -> tuple[int, dict[str, Any]]:
    return api_post(app, f"/api/tickets/{number}/transitions", body)


def texts_to(app: Flask, phone: str) -> list[str]:
    with services_of(app).db.session() as session:
        rows = session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.to_number == phone)
            .order_by(OutboundMessage.id)
        )
        return [row.body for row in rows]


def the_ticket(app: Flask) -> Ticket:
    with services_of(app).db.session() as session:
        ticket: Ticket = session.scalars(select(Ticket)).one()
        session.expunge(ticket)
        return ticket


def surveys(app: Flask) -> list[tuple[CallbackStatus, datetime]]:
    with services_of(app).db.session() as session:
        rows = session.scalars(select(Callback).where(Callback.kind == CallbackKind.SURVEY))
        return [(row.status, row.due_at) for row in rows]


def stamp(clock: FrozenClock) -> str:
    """Now, as the API writes times: UTC."""
    return clock.now().astimezone(UTC).isoformat()


def history(body: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in body["log"]]
