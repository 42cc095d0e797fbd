"""GET /api/tickets: repair orders and complaints, filtered and paged like the call log,
each with its deadlines, escalation and history, in the shapes the OpenAPI document gives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.api.openapi import OPENAPI
from ivr.calllog.write import record_events
from ivr.core.events import CallEvent, EventKind
from ivr.intake.follow_up import follow_up_events
from ivr.models import Resident, Ticket, TicketStatus, Unit
from ivr.services import services
from ivr.tickets.lifecycle import escalate_if_due, flag_service_levels, resolve_ticket
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import SHANGHAI
from tests.twilio_fake import TwilioFake

SUPERVISORS = ("+8613700000001", "+8613700000002", "+8613700000003")
HOTLINE = "+8657112345678"
OWNER, NEIGHBOUR, TENANT = "+8613800138000", "+8613900139000", "+8657100000000"

Place = tuple[str, str, str]  # building, entrance, room, as in the residents registry
REGISTRY: list[Place] = [("3", "2", "501"), ("7", "", "1001")]


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Registry:
    """Row ids of the registry's units, and of its residents by unit and phone."""

    units: Mapping[Place, int]
    residents: Mapping[tuple[Place | None, str], int]


@dataclass(frozen=True)
class Report:
    """A call that opened a ticket, as the flow engine reports it."""

    sid: str
    at: datetime
    kind: str
    number: str
    caller: str
    category: str
    heard_unit: str | None = None
    registry_unit: Place | None = None
    emergency: bool = False

    def detail(self, registry: Registry) -> dict[str, Any]:
        """The ticket_opened detail: `unit` and `who` only when the registry knew them."""
        unit = registry.units.get(self.registry_unit) if self.registry_unit else None
        resident = registry.residents.get((self.registry_unit, self.caller))
        optional = {
            "ul": self.heard_unit,
            "unit": str(unit) if unit else None,
            "who": str(resident) if resident else None,
            "emg": "1" if self.emergency else None,
        }
        base = {
            "kind": self.kind,
            "number": self.number,
            "caller": self.caller,
            "cat": self.category,
        }
        return (
            base
            | {"locale": "zh-CN", "desc": f"{self.category} problem"}
            | {key: value for key, value in optional.items() if value}
        )


# Oldest first. CA00 is last year's ticket with this year's CA03 number; CA06 and CA07
# were reported at the same moment.
REPORTS = [
    Report("CA00", local(2025, 11, 3), "complaint", "1103001", OWNER, "noise", "5栋101室"),
    Report("CA01", local(2026, 11, 1), "repair", "1101001", OWNER, "water", "3栋502室"),
    Report(
        "CA02",
        local(2026, 11, 2),
        "repair",
        "1102001",
        NEIGHBOUR,
        "electric",
        "3栋2单元501",
        ("3", "2", "501"),
        emergency=True,
    ),
    Report("CA03", local(2026, 11, 3), "complaint", "1103001", OWNER, "noise", "5栋101室"),
    Report(
        "CA04", local(2026, 11, 4), "complaint", "1104001", NEIGHBOUR, "security", "12栋1单元1203室"
    ),
    Report("CA05", local(2026, 11, 6, 7, 30), "repair", "1106001", OWNER, "doors", "5栋1202室"),
    Report(
        "CA06", local(2026, 11, 7), "repair", "1107001", TENANT, "lift", None, ("7", "", "1001")
    ),
    Report("CA07", local(2026, 11, 7), "repair", "1107002", NEIGHBOUR, "fixtures"),
]
NEWEST_FIRST = ["CA07", "CA06", "CA05", "CA04", "CA03", "CA02", "CA01", "CA00"]


def conforms(body: dict[str, Any], schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    Draft202012Validator(schema).validate(body)


def register_units(session: Session) -> Registry:
    """Two units in the residents registry; the neighbour lives in 3栋2单元501室."""
    units = {place: Unit(building=place[0], entrance=place[1], room=place[2]) for place in REGISTRY}
    session.add_all(units.values())
    session.flush()
    neighbour = Resident(unit_id=units["3", "2", "501"].id, name="王芳", phone=NEIGHBOUR)
    session.add(neighbour)
    session.flush()
    return Registry(
        units={place: unit.id for place, unit in units.items()},
        residents={(("3", "2", "501"), NEIGHBOUR): neighbour.id},
    )


def report(session: Session, call: Report, registry: Registry) -> None:
    """What the call-log job does with the call's events: log them, open the ticket."""
    found = services()
    events = [
        CallEvent(
            call.sid, EventKind.CALL_STARTED, call.at, detail={"from": call.caller, "to": HOTLINE}
        ),
        CallEvent(
            call.sid,
            EventKind.TICKET_OPENED,
            call.at,
            seq=6,
            node=f"{call.kind}_ticket",
            detail=call.detail(registry),
        ),
    ]
    record_events(session, events)
    follow_up_events(session, events, found.settings, found.engine.catalogues)


def close(session: Session, ticket: Ticket, at: datetime) -> None:
    resolve_ticket(session, ticket, at, by="engineer 7")
    ticket.status, ticket.closed_at = TicketStatus.CLOSED, at


def what_happened_next(session: Session, by_sid: Mapping[str, Ticket]) -> None:
    found = services()
    settings, catalogues = found.settings, found.engine.catalogues
    close(session, by_sid["CA00"], local(2025, 11, 3, 16))
    resolve_ticket(session, by_sid["CA01"], local(2026, 11, 1, 15), by="engineer 7")
    # The emergency was due on site at 13:00: warned and breached by the 14:00 sweep.
    flag_service_levels(session, by_sid["CA02"], local(2026, 11, 2, 14), settings, catalogues)
    # Nobody acknowledged the complaint in two hours: up to 客服主管.
    escalate_if_due(session, by_sid["CA03"], local(2026, 11, 3, 11, 30), settings, catalogues)
    close(session, by_sid["CA04"], local(2026, 11, 4, 17))
    by_sid["CA05"].status = TicketStatus.DISPATCHED
    by_sid["CA06"].status = TicketStatus.ON_SITE


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


@pytest.fixture
def ticket_ids(app: Flask) -> dict[str, int]:
    """The tickets of REPORTS, by the CallSid that opened them."""
    with app.app_context(), services().db.session() as session:
        registry = register_units(session)
        for call in REPORTS:
            report(session, call, registry)
        by_sid = {t.call_sid or "": t for t in session.scalars(select(Ticket))}
        what_happened_next(session, by_sid)
        return {sid: ticket.id for sid, ticket in by_sid.items()}


def listed(app: Flask, query: str) -> list[str]:
    status, body = api_get(app, f"/api/tickets?{query}")
    assert status == 200, body
    return [ticket["call_sid"] for ticket in body["tickets"]]


def test_the_openapi_document_describes_tickets(app: Flask) -> None:
    status, body = api_get(app, "/api/openapi.json", token=None)
    assert status == 200
    validate(body)
    assert {"/api/tickets", "/api/tickets/{ticket}"} <= set(body["paths"])
    assert {"Ticket", "TicketLogEntry"} <= set(body["components"]["schemas"])


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-api-token"}]
)
@pytest.mark.parametrize("path", ["/api/tickets", "/api/tickets/1", "/api/tickets/1123001"])
def test_no_token_no_tickets(app: Flask, headers: dict[str, str], path: str) -> None:
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hotline"'
    assert response.get_json() == {"error": "a valid bearer token is required"}


def test_the_list_is_newest_first_and_matches_the_schema(
    app: Flask, ticket_ids: dict[str, int]
) -> None:
    status, body = api_get(app, "/api/tickets")
    assert status == 200
    assert [t["call_sid"] for t in body["tickets"]] == NEWEST_FIRST
    assert body["next_cursor"] is None
    for ticket in body["tickets"]:
        conforms(ticket, "Ticket")
        assert set(ticket) == set(OPENAPI["components"]["schemas"]["Ticket"]["properties"])


def test_pages_follow_the_cursor_through_ties(app: Flask, ticket_ids: dict[str, int]) -> None:
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        status, page = api_get(app, f"/api/tickets?limit=3&cursor={cursor}")
        assert status == 200
        assert len(page["tickets"]) <= 3
        seen += [t["call_sid"] for t in page["tickets"]]
        cursor = page["next_cursor"]
    assert seen == NEWEST_FIRST


def test_pages_keep_their_filters(app: Flask, ticket_ids: dict[str, int]) -> None:
    _, first = api_get(app, "/api/tickets?kind=repair&limit=1")
    _, second = api_get(app, f"/api/tickets?kind=repair&limit=4&cursor={first['next_cursor']}")
    assert [t["call_sid"] for t in first["tickets"] + second["tickets"]] == [
        "CA07",
        "CA06",
        "CA05",
        "CA02",
        "CA01",
    ]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "sids"),
    [
        ("kind=complaint", ["CA04", "CA03", "CA00"]),
        ("status=open", ["CA07", "CA03", "CA02"]),
        ("status=on_site", ["CA06"]),
        ("priority=emergency", ["CA02"]),
        ("priority=high", ["CA04"]),
        ("open=true", ["CA07", "CA06", "CA05", "CA03", "CA02"]),
        ("open=false", ["CA04", "CA01", "CA00"]),
        ("breached=true", ["CA02"]),
        ("breached=false", ["CA07", "CA06", "CA05", "CA04", "CA03", "CA01", "CA00"]),
        # 07:30 on 6 November in Shanghai is still 5 November in UTC.
        ("from=2026-11-06&to=2026-11-06", ["CA05"]),
        ("to=2026-11-05", ["CA04", "CA03", "CA02", "CA01", "CA00"]),
        ("from=2026-11-07T09:00:00%2B08:00", ["CA07", "CA06"]),
        ("from=2026-11-01&kind=complaint", ["CA04", "CA03"]),
        ("unit=3栋", ["CA02", "CA01"]),
        # The registry's label wins over what the caller said (3栋2单元501).
        ("unit=2单元501室", ["CA02"]),
        ("unit=7栋1001室", ["CA06"]),
        ("unit=5栋1", ["CA05", "CA03", "CA00"]),
        ("unit=%25", []),
        ("caller=%2B8613800138000", ["CA05", "CA03", "CA01", "CA00"]),
        # An unencoded + arrives as a space.
        ("caller=+8613900139000", ["CA07", "CA04", "CA02"]),
        ("caller=%2B86 139 0013 9000", ["CA07", "CA04", "CA02"]),
        ("kind=repair&open=true&caller=%2B8613900139000", ["CA07", "CA02"]),
        ("caller=%2B8610000000000", []),
    ],
)
def test_filters(app: Flask, ticket_ids: dict[str, int], query: str, sids: list[str]) -> None:
    assert listed(app, query) == sids


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=leak", "kind must be one of: repair, complaint"),
        (
            "status=resolved",
            "status must be one of: open, acknowledged, dispatched, on_site, investigated, done,"
            " answered, closed, cancelled",
        ),
        ("priority=urgent", "priority must be one of: emergency, high, normal"),
        ("breached=yes", "breached must be true or false"),
        ("open=1", "open must be true or false"),
        ("from=yesterday", "'yesterday' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("from=2026-11-10&to=2026-11-01", "'to' must be after 'from'"),
        ("limit=201", "limit must be a whole number from 1 to 200"),
        ("cursor=%%%", "cursor is not one this API returned"),
    ],
)
def test_bad_filters_are_explained(app: Flask, query: str, message: str) -> None:
    status, body = api_get(app, f"/api/tickets?{query}")
    assert (status, body) == (400, {"error": message})
    conforms(body, "Error")


def test_a_complaint_with_its_escalation_and_log(app: Flask, ticket_ids: dict[str, int]) -> None:
    status, body = api_get(app, f"/api/tickets/{ticket_ids['CA03']}")
    assert status == 200
    conforms(body, "Ticket")
    assert {key: body[key] for key in ("number", "kind", "priority", "sla_tier", "status")} == {
        "number": "1103001",
        "kind": "complaint",
        "priority": "normal",
        "sla_tier": "normal",
        "status": "open",
    }
    assert (body["unit"], body["unit_id"], body["caller_number"]) == ("5栋101室", None, OWNER)
    assert (body["created_at"], body["resolve_by"]) == (
        "2026-11-03T01:00:00+00:00",
        "2026-11-03T13:00:00+00:00",  # R6: the same day, by closing time
    )
    assert (body["escalation_level"], body["escalation_role"], body["escalation_due"]) == (
        2,
        "客服主管",
        "2026-11-03T07:00:00+00:00",
    )
    assert [(entry["kind"], entry["detail"].get("level")) for entry in body["log"]] == [
        ("created", None),
        ("notified", 1),
        ("escalated", 2),
        ("notified", 2),
    ]
    assert body["log"][2] == {
        "at": "2026-11-03T03:30:00+00:00",
        "kind": "escalated",
        "detail": {"level": 2, "due": "2026-11-03T03:00:00+00:00"},
    }
    for entry in body["log"]:
        conforms(entry, "TicketLogEntry")


def test_an_emergency_repair_in_a_registry_unit_that_missed_its_deadline(
    app: Flask, ticket_ids: dict[str, int]
) -> None:
    status, body = api_get(app, f"/api/tickets/{ticket_ids['CA02']}")
    assert status == 200
    # Fresh database per test: the first unit and the first resident.
    assert (body["priority"], body["sla_tier"], body["unit"], body["unit_id"]) == (
        "emergency",
        "emergency",
        "3栋2单元501室",
        1,
    )
    assert body["resident_id"] == 1
    assert (body["dispatch_by"], body["on_site_by"], body["breached_at"]) == (
        "2026-11-02T01:00:00+00:00",
        "2026-11-02T05:00:00+00:00",
        "2026-11-02T06:00:00+00:00",
    )
    assert [entry["kind"] for entry in body["log"]] == ["created", "sla_warning", "sla_breached"]


def test_a_resolved_repair_is_due_its_return_visit(app: Flask, ticket_ids: dict[str, int]) -> None:
    status, body = api_get(app, f"/api/tickets/{ticket_ids['CA01']}")
    assert status == 200
    assert (body["status"], body["resolved_at"], body["return_visit_due"], body["closed_at"]) == (
        "done",
        "2026-11-01T07:00:00+00:00",
        "2026-11-02T07:00:00+00:00",  # R5: 回访 within 24 hours
        None,
    )
    assert body["log"][-1] == {
        "at": "2026-11-01T07:00:00+00:00",
        "kind": "resolved",
        "detail": {"by": "engineer 7"},
    }


def test_a_number_finds_the_newest_ticket_with_it(app: Flask, ticket_ids: dict[str, int]) -> None:
    status, body = api_get(app, "/api/tickets/1103001")
    assert status == 200
    assert (body["id"], body["call_sid"], body["created_at"]) == (
        ticket_ids["CA03"],
        "CA03",
        "2026-11-03T01:00:00+00:00",
    )


@pytest.mark.parametrize("key", ["999", "1199001", "nope", "01", "99999999999999999999"])
def test_an_unknown_ticket_is_404(app: Flask, ticket_ids: dict[str, int], key: str) -> None:
    # "01" is not id 1: a leading zero makes it a ticket number (0105001 is 5 January's).
    status, body = api_get(app, f"/api/tickets/{key}")
    assert (status, body) == (404, {"error": f"no ticket {key}"})
    conforms(body, "Error")


def test_a_repair_reported_by_phone_is_on_the_api(
    app: Flask, twilio: TwilioFake, run_jobs: Callable[[], int]
) -> None:
    walk = Walk(twilio, "CA500").start()
    walk.press("1").press("2")  # repair, ordinary
    walk.key_unit("3", "502")  # 3栋502室, not in the registry: typed twice
    walk.press("1").press("1")  # that unit, water
    walk.say("厨房水管漏水")
    walk.press("3")  # tomorrow afternoon
    walk.hang_up()
    run_jobs()

    assert listed(app, "open=true&unit=3栋502") == ["CA500"]
    status, body = api_get(app, "/api/tickets/1123001")
    assert status == 200
    conforms(body, "Ticket")
    assert {key: body[key] for key in ("kind", "category", "unit", "caller_number")} == {
        "kind": "repair",
        "category": "water",
        "unit": "3栋502室",
        "caller_number": OWNER,
    }
    assert (body["description"], body["appointment_slot"], body["on_site_by"]) == (
        "厨房水管漏水",
        "tomorrow_pm",
        "2026-11-24T10:00:00+00:00",
    )
    assert [entry["kind"] for entry in body["log"]] == ["created"]
    assert body["log"][0]["detail"] == {"number": "1123001", "call_sid": "CA500"}
