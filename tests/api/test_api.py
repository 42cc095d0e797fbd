"""The JSON API: bearer token, filters, keyset pages, and answers that match the OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from ivr.api.openapi import OPENAPI
from ivr.calllog.write import record_events
from ivr.core.events import CallEvent, EventKind
from ivr.services import services
from tests.api_client import api_get
from tests.conftest import SHANGHAI


def conforms(body: dict[str, Any], schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    Draft202012Validator(schema).validate(body)


def seed_call(
    app: Flask, sid: str, at: datetime, category: str | None, ending: str = "handoff"
) -> None:
    events = [
        CallEvent(
            sid,
            EventKind.CALL_STARTED,
            at,
            detail={"from": "+8613800138000", "to": "+8657112345678"},
        ),
        CallEvent(sid, EventKind.GREETED, at, node="welcome", detail={"response_ms": 1.5}),
    ]
    if category:
        events.append(
            CallEvent(
                sid, EventKind.ROUTED, at, seq=1, node="main_menu", detail={"category": category}
            )
        )
    if ending == "handoff":
        events.append(
            CallEvent(
                sid, EventKind.HANDOFF, at, seq=1, node="general_queue", detail={"queue": "general"}
            )
        )
    end = at + timedelta(seconds=40)
    events.append(
        CallEvent(
            sid,
            EventKind.STATUS,
            end,
            node="status",
            detail={"status": "completed", "duration_s": 40},
            key=f"{sid}:s",
        )
    )
    with app.app_context(), services().db.session() as session:
        record_events(session, events)


@pytest.fixture
def month_of_calls(app: Flask) -> Flask:
    start = datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)
    categories = ["repair", "complaint", "inquiry", None]
    for day in range(30):
        seed_call(
            app,
            f"CA{day:032d}",
            start + timedelta(days=day),
            categories[day % 4],
            "handoff" if day % 3 else "hangup",
        )
    return app


def test_the_openapi_document_is_valid_and_public(app: Flask) -> None:
    status, body = api_get(app, "/api/openapi.json", token=None)
    assert status == 200
    validate(body)
    assert sorted(body["paths"]) == [
        "/api/callbacks",
        "/api/callbacks/{callback}",
        "/api/calls",
        "/api/calls/{call_sid}",
        "/api/queues",
        "/api/tickets",
        "/api/tickets/{ticket}",
        "/api/tickets/{ticket}/transitions",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic test-api-token"},
        {"Authorization": "Bearer"},
    ],
)
@pytest.mark.parametrize("path", ["/api/calls", "/api/calls/CA1"])
def test_no_token_no_call_log(app: Flask, headers: dict[str, str], path: str) -> None:
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hotline"'
    assert response.get_json() == {"error": "a valid bearer token is required"}


def test_list_newest_first_with_pages(month_of_calls: Flask) -> None:
    status, first = api_get(month_of_calls, "/api/calls?limit=12")
    assert status == 200
    assert [c["call_sid"] for c in first["calls"]] == [f"CA{day:032d}" for day in range(29, 17, -1)]
    seen = [c["call_sid"] for c in first["calls"]]
    cursor = first["next_cursor"]
    while cursor:
        _, page = api_get(month_of_calls, f"/api/calls?limit=12&cursor={cursor}")
        seen += [c["call_sid"] for c in page["calls"]]
        cursor = page["next_cursor"]
    assert seen == [f"CA{day:032d}" for day in range(29, -1, -1)]
    for call in first["calls"]:
        conforms(call, "Call")


@pytest.mark.parametrize(
    ("query", "days"),
    [
        ("from=2026-11-10&to=2026-11-12", [11, 10, 9]),
        ("from=2026-11-28", [29, 28, 27]),
        ("to=2026-11-02", [1, 0]),
        ("category=complaint&to=2026-11-10", [9, 5, 1]),
        ("outcome=abandoned&from=2026-11-20", [27, 24, 21]),
        ("from=2026-11-05T09:00:00%2B08:00&to=2026-11-06T09:00:00%2B08:00", [4]),
    ],
)
def test_filters(month_of_calls: Flask, query: str, days: list[int]) -> None:
    status, body = api_get(month_of_calls, f"/api/calls?{query}")
    assert status == 200
    assert [c["call_sid"] for c in body["calls"]] == [f"CA{day:032d}" for day in days]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "'yesterday' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("from=2026-11-10&to=2026-11-01", "'to' must be after 'from'"),
        (
            "category=gossip",
            "category must be one of: repair, complaint, inquiry, help, suggestion, sales",
        ),
        ("outcome=lost", "outcome must be one of:"),
        ("limit=0", "limit must be a whole number from 1 to 200"),
        ("limit=lots", "limit must be a whole number from 1 to 200"),
        ("cursor=%%%", "cursor is not one this API returned"),
    ],
)
def test_bad_filters_are_explained(app: Flask, query: str, message: str) -> None:
    status, body = api_get(app, f"/api/calls?{query}")
    assert status == 400
    assert body["error"].startswith(message)
    conforms(body, "Error")


def test_one_call_with_its_events(month_of_calls: Flask) -> None:
    sid = f"CA{1:032d}"
    status, body = api_get(month_of_calls, f"/api/calls/{sid}")
    assert status == 200
    conforms(body, "Call")
    assert (body["category"], body["outcome"], body["status"], body["duration_s"]) == (
        "complaint",
        "transferred",
        "completed",
        40,
    )
    assert [e["kind"] for e in body["events"]] == [
        "call_started",
        "greeted",
        "routed",
        "handoff",
        "status",
    ]
    for event in body["events"]:
        conforms(event, "CallEvent")


def test_an_unknown_call_is_404(app: Flask) -> None:
    status, body = api_get(app, "/api/calls/CAnope")
    assert (status, body) == (404, {"error": "no call CAnope"})
