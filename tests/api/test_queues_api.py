"""GET /api/queues: who waits for a person right now, queue by queue, most urgent first,
computed from the call log the worker wrote while callers walked through the webhooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import event

from ivr.api.openapi import OPENAPI
from ivr.app import refresh_directory
from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import Resident, Unit
from ivr.services import services
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import SHANGHAI
from tests.twilio_fake import TwilioFake, call_params

ENGINEER, DEPUTY = "+8613900000001", "+8613900000002"
RESIDENT = "+8613900139000"  # lives in 3栋2单元501室
GENERAL_RESULT = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"


def conforms(body: dict[str, Any], schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    Draft202012Validator(schema).validate(body)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(oncall_ladder=(ENGINEER, DEPUTY))


def queues(app: Flask) -> dict[str, Any]:
    status, body = api_get(app, "/api/queues")
    assert status == 200, body
    conforms(body, "Queues")
    return body


def waiting(app: Flask) -> dict[str, list[tuple[str, int]]]:
    """Each queue's callers and how long they have waited, in the order the API gives."""
    return {
        queue["name"]: [(c["call_sid"], c["waited_s"]) for c in queue["callers"]]
        for queue in queues(app)["queues"]
    }


def to_a_person(twilio: TwilioFake, sid: str, caller: str = "+8613800138000") -> Walk:
    walk = Walk(twilio, sid, caller=caller).start().press("0")
    assert walk.tags == ["Say", "Enqueue"]
    return walk


def register_resident(app: Flask) -> None:
    with app.app_context(), services().db.session() as session:
        unit = Unit(building="3", entrance="2", room="501")
        session.add(unit)
        session.flush()
        session.add(Resident(unit_id=unit.id, name="王芳", phone=RESIDENT))
    refresh_directory(app)


@pytest.fixture
def busy_morning(
    app: Flask, twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int]
) -> Flask:
    """From 10:00: four callers still waiting at 10:03, five who were in a queue and left."""
    register_resident(app)
    to_a_person(twilio, "CA910", "+8613800138010")
    clock.advance(seconds=10)
    for sid in ("CA914", "CA915", "CA916", "CA917", "CA918"):
        to_a_person(twilio, sid, "+8613800138014")
    clock.advance(seconds=20)
    twilio.follow(GENERAL_RESULT, "CA914", QueueResult="hangup", QueueTime="20")
    twilio.follow(GENERAL_RESULT, "CA915", QueueResult="bridged", QueueTime="20")
    # Out of the queue (pressed 2, or waited too long), now leaving a message.
    twilio.follow(GENERAL_RESULT, "CA916", QueueResult="leave", QueueTime="20")
    choice = "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0"
    twilio.follow(choice, "CA918", Digits="1", QueueTime="20", QueuePosition="2")  # virtual hold
    # Twilio reports the call over without a queue result: gone all the same.
    twilio.post("/voice/status", call_params("CA917", CallStatus="completed", CallDuration="30"))
    walk = Walk(twilio, "CA911", caller="+8613800138011").start().press("3").press("4").press("0")
    assert next(v.text for v in walk.verbs if v.tag == "Enqueue") == "inquiry"
    clock.advance(seconds=30)
    # A leak at home; neither engineer answers: the emergency queue, with the unit known.
    walk = Walk(twilio, "CA912", caller=RESIDENT).start().press("1").press("1").press("1")
    walk.dial_result("no-answer").dial_result("busy")
    assert next(v.text for v in walk.verbs if v.tag == "Enqueue") == "emergency"
    clock.advance(seconds=30)
    to_a_person(twilio, "CA913", "+8613800138013")
    clock.set(datetime(2026, 11, 23, 10, 3, tzinfo=SHANGHAI))
    run_jobs()
    return app


def test_no_token_no_queues(app: Flask) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = app.test_client().get("/api/queues", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="hotline"'
        assert response.get_json() == {"error": "a valid bearer token is required"}


def test_the_flows_queues_are_listed_even_when_empty(app: Flask) -> None:
    body = queues(app)
    assert body == {
        "as_of": "2026-11-23T02:00:00+00:00",
        "queues": [
            {"name": name, "waiting": 0, "longest_wait_s": 0, "callers": []}
            for name in ("emergency", "inquiry", "general")
        ],
    }


def test_callers_still_waiting_most_urgent_queue_first(busy_morning: Flask) -> None:
    assert waiting(busy_morning) == {
        "emergency": [("CA912", 120)],
        "inquiry": [("CA911", 150)],
        "general": [("CA910", 180), ("CA913", 90)],
    }
    assert list(waiting(busy_morning)) == ["emergency", "inquiry", "general"]


def test_a_caller_out_of_the_queue_but_still_on_the_line_is_not_waiting(
    busy_morning: Flask,
) -> None:
    """CA916 left the queue to record a message: the register still says transferred and
    in progress, but the queue result after the handoff says they are no longer waiting."""
    _, call = api_get(busy_morning, "/api/calls/CA916")
    assert (call["outcome"], call["status"], call["queue"]) == (
        "transferred",
        "in-progress",
        "general",
    )
    assert "CA916" not in {sid for callers in waiting(busy_morning).values() for sid, _ in callers}


def test_each_queue_counts_its_callers_and_longest_wait(busy_morning: Flask) -> None:
    body = queues(busy_morning)
    assert body["as_of"] == "2026-11-23T02:03:00+00:00"
    assert [(q["name"], q["waiting"], q["longest_wait_s"]) for q in body["queues"]] == [
        ("emergency", 1, 120),
        ("inquiry", 1, 150),
        ("general", 2, 180),
    ]


def test_a_waiting_caller_comes_with_who_and_what(busy_morning: Flask) -> None:
    emergency, inquiry, general = queues(busy_morning)["queues"]
    assert emergency["callers"] == [
        {
            "call_sid": "CA912",
            "caller_number": RESIDENT,
            "unit": "3栋2单元501室",
            "category": "repair",
            "joined_at": "2026-11-23T02:01:00+00:00",
            "waited_s": 120,
        }
    ]
    assert (inquiry["callers"][0]["caller_number"], inquiry["callers"][0]["category"]) == (
        "+8613800138011",
        "inquiry",
    )
    assert general["callers"][0] == {
        "call_sid": "CA910",
        "caller_number": "+8613800138010",
        "unit": None,
        "category": None,
        "joined_at": "2026-11-23T02:00:00+00:00",
        "waited_s": 180,
    }
    for queue in (emergency, inquiry, general):
        conforms(queue, "Queue")
        for caller in queue["callers"]:
            conforms(caller, "WaitingCaller")


def test_waits_grow_with_the_clock_and_end_when_the_caller_leaves(
    busy_morning: Flask, twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    clock.advance(seconds=60)
    assert waiting(busy_morning)["general"] == [("CA910", 240), ("CA913", 150)]
    twilio.follow(GENERAL_RESULT, "CA910", QueueResult="bridged", QueueTime="240")
    twilio.post("/voice/status", call_params("CA912", CallStatus="completed", CallDuration="300"))
    run_jobs()
    assert waiting(busy_morning) == {
        "emergency": [],
        "inquiry": [("CA911", 210)],
        "general": [("CA913", 150)],
    }


def test_queues_outside_the_flow_are_listed_by_priority(
    app: Flask, twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    """A queue the flow no longer has (a complaints queue, a VIP line) still shows its callers:
    the known names by priority, the rest after them by name."""
    at = clock.now() - timedelta(seconds=45)
    handoffs = [("CA930", "vip", None), ("CA931", "complaint", "complaint"), ("CA932", "aaa", None)]
    events = []
    for sid, queue, category in handoffs:
        events += [
            CallEvent(sid, EventKind.CALL_STARTED, at, detail={"from": "+8613800138030"}),
            CallEvent(
                sid,
                EventKind.HANDOFF,
                at,
                seq=1,
                node=f"{queue}_queue",
                detail={"queue": queue, "category": category},
            ),
        ]
    with app.app_context(), services().db.session() as session:
        record_events(session, events)
    to_a_person(twilio, "CA933")
    run_jobs()
    assert waiting(app) == {
        "emergency": [],
        "complaint": [("CA931", 45)],
        "inquiry": [],
        "general": [("CA933", 0)],
        "aaa": [("CA932", 45)],
        "vip": [("CA930", 45)],
    }
    assert queues(app)["queues"][1]["callers"][0]["category"] == "complaint"


@pytest.fixture
def statements(busy_morning: Flask) -> Iterator[list[str]]:
    """The SQL the database is asked while the test runs."""
    engine = services_engine(busy_morning)
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def services_engine(app: Flask) -> Any:
    with app.app_context():
        return services().db.engine


def test_two_queries_however_many_callers_wait(busy_morning: Flask, statements: list[str]) -> None:
    queues(busy_morning)
    assert len(statements) == 2
    assert "FROM calls" in statements[0]
    assert "FROM call_events" in statements[1]
