"""GET /api/callbacks: the callbacks we owe residents (R7), soonest due first, filtered and
paged like the call log, each with the call that caused it; overdue by the app's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import select

from ivr.api.openapi import OPENAPI
from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.intake.follow_up import follow_up_events
from ivr.models import (
    AttemptStatus,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    User,
)
from ivr.services import services
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import SHANGHAI
from tests.twilio_fake import TwilioFake, call_params

HOTLINE = "+8657112345678"
GENERAL_RESULT = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
MORNING = datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)  # when the lists below are read

# By the call that caused them, soonest due first (CA903 and CA906 are due at the same moment).
SOONEST_FIRST = ["CA900", "CA901", "CA905", "CA904", "CA907", "CA902", "CA903", "CA906"]


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)


def conforms(body: dict[str, Any], schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    Draft202012Validator(schema).validate(body)


def virtual_hold(twilio: TwilioFake, clock: FrozenClock, sid: str) -> None:
    """Waits 2½ minutes in the general queue, then presses 1 to be called back."""
    Walk(twilio, sid).start().press("0")
    clock.advance(seconds=150)
    choice = "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0"
    twilio.follow(choice, sid, Digits="1", QueueTime="150", QueuePosition="3")
    twilio.follow(GENERAL_RESULT, sid, QueueResult="hangup", QueueTime="152")
    twilio.post("/voice/status", call_params(sid, CallStatus="completed", CallDuration="160"))


def gives_up_in_the_queue(twilio: TwilioFake, sid: str) -> None:
    Walk(twilio, sid, caller="+8613800138001").start().press("0")
    twilio.follow(GENERAL_RESULT, sid, QueueResult="hangup", QueueTime="70")
    twilio.post(
        "/voice/status",
        call_params(sid, "+8613800138001", CallStatus="completed", CallDuration="80"),
    )


def leaves_an_inquiry_message(twilio: TwilioFake, sid: str, caller: str, press: str) -> None:
    """Out of hours: 1 an important message (due the same working day), 2 a general one."""
    walk = Walk(twilio, sid, caller=caller).start().press("3").press("0").press(press)
    walk.record()
    walk.hang_up()


def message_while_down(app: Flask, sid: str, at: datetime) -> None:
    """A message the fallback took while the main path was down, as the spool replays it."""
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "7" * 32
    events = [
        CallEvent(
            sid, EventKind.CALL_STARTED, at, detail={"from": "+8613800138007", "to": HOTLINE}
        ),
        CallEvent(
            sid,
            EventKind.FALLBACK,
            at,
            seq=1,
            node="fallback",
            detail={"recording_url": url, "duration_s": 12},
        ),
    ]
    with app.app_context(), services().db.session() as session:
        found = services()
        record_events(session, events)
        follow_up_events(session, events, found.settings, found.engine.catalogues)


def worked_on(app: Flask, sid: str, status: CallbackStatus, attempts: int, outcome: str) -> None:
    """What the callback scheduler records after calling."""
    with app.app_context(), services().db.session() as session:
        callback = session.scalars(select(Callback).where(Callback.call_sid == sid)).one()
        callback.status, callback.attempts, callback.outcome = status, attempts, outcome


@pytest.fixture
def owed(
    app: Flask, twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int]
) -> dict[str, int]:
    """A day and an evening of callbacks, read the next morning; ids by the call behind each."""
    virtual_hold(twilio, clock, "CA900")  # 10:00, due at once: 10:02:30
    clock.set(local(23, 10, 5))
    gives_up_in_the_queue(twilio, "CA901")  # due within 15 minutes
    clock.set(local(23, 10, 10))
    Walk(twilio, "CA905", caller="+8613800138005").start().press("1")  # a repair, then silence
    twilio.post(
        "/voice/status",
        call_params("CA905", "+8613800138005", CallStatus="completed", CallDuration="15"),
    )
    message_while_down(app, "CA907", local(23, 15))  # due within 24 hours
    clock.set(local(23, 22))
    Walk(twilio, "CA904", caller="+8613800138004").start().press("2")  # hangs up at complaint
    twilio.post(
        "/voice/status",
        call_params("CA904", "+8613800138004", CallStatus="completed", CallDuration="20"),
    )
    clock.set(local(23, 22, 30))
    leaves_an_inquiry_message(twilio, "CA902", "+8613800138002", "1")
    clock.set(local(23, 22, 40))
    leaves_an_inquiry_message(twilio, "CA903", "+8613800138003", "2")
    leaves_an_inquiry_message(twilio, "CA906", "+8613800138006", "2")
    run_jobs()
    worked_on(app, "CA900", CallbackStatus.DONE, 1, "reached: 2栋 lift noise explained")
    worked_on(app, "CA901", CallbackStatus.UNREACHABLE, 3, "no answer")
    clock.set(MORNING)
    with app.app_context(), services().db.reader() as session:
        return {row.call_sid or "": row.id for row in session.scalars(select(Callback))}


def listed(app: Flask, query: str = "") -> list[str]:
    status, body = api_get(app, f"/api/callbacks?{query}")
    assert status == 200, body
    return [callback["call_sid"] for callback in body["callbacks"]]


def test_the_openapi_document_describes_callbacks_and_queues(app: Flask) -> None:
    _, body = api_get(app, "/api/openapi.json", token=None)
    assert {"/api/callbacks", "/api/callbacks/{callback}", "/api/queues"} <= set(body["paths"])
    assert {"Callback", "CallbackWithCall", "Queues", "Queue", "WaitingCaller"} <= set(
        body["components"]["schemas"]
    )


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-api-token"}]
)
@pytest.mark.parametrize("path", ["/api/callbacks", "/api/callbacks/1"])
def test_no_token_no_callbacks(app: Flask, headers: dict[str, str], path: str) -> None:
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hotline"'
    assert response.get_json() == {"error": "a valid bearer token is required"}


def test_an_empty_list(app: Flask) -> None:
    assert api_get(app, "/api/callbacks") == (200, {"callbacks": [], "next_cursor": None})


def test_soonest_due_first_with_why_and_when(app: Flask, owed: dict[str, int]) -> None:
    status, body = api_get(app, "/api/callbacks")
    assert status == 200
    assert body["next_cursor"] is None
    assert [c["call_sid"] for c in body["callbacks"]] == SOONEST_FIRST
    for callback in body["callbacks"]:
        conforms(callback, "Callback")
        assert set(callback) == set(OPENAPI["components"]["schemas"]["Callback"]["properties"])
    summary = [
        (c["call_sid"], c["reason"], c["important"], c["due_at"], c["status"], c["overdue"])
        for c in body["callbacks"]
    ]
    assert summary == [
        (
            "CA900",
            "requested from the general queue after 2 min",
            True,
            "2026-11-23T02:02:30+00:00",
            "done",
            False,
        ),
        (
            "CA901",
            "abandoned in the queue at general",
            False,
            "2026-11-23T02:20:00+00:00",  # 15 minutes after hanging up
            "unreachable",
            False,
        ),
        (
            "CA905",
            "abandoned in the IVR at repair",
            False,
            "2026-11-23T02:25:00+00:00",
            "pending",
            True,
        ),
        (
            "CA904",
            "abandoned in the IVR at complaint",
            False,
            "2026-11-23T23:15:00+00:00",  # 07:15 in Shanghai, 15 minutes after opening
            "pending",
            True,
        ),
        (
            "CA907",
            "message left while the system was down",
            False,
            "2026-11-24T07:00:00+00:00",  # within 24 hours
            "pending",
            False,
        ),
        (
            "CA902",
            "inquiry message (important)",
            True,
            "2026-11-24T13:00:00+00:00",  # the same working day: 21:00
            "pending",
            False,
        ),
        ("CA903", "inquiry message", False, "2026-11-24T14:40:00+00:00", "pending", False),
        ("CA906", "inquiry message", False, "2026-11-24T14:40:00+00:00", "pending", False),
    ]


def test_who_to_call_and_what_happened(app: Flask, owed: dict[str, int]) -> None:
    _, body = api_get(app, "/api/callbacks")
    by_sid = {c["call_sid"]: c for c in body["callbacks"]}
    assert {key: by_sid["CA900"][key] for key in ("phone", "attempts", "outcome")} == {
        "phone": "+8613800138000",
        "attempts": 1,
        "outcome": "reached: 2栋 lift noise explained",
    }
    assert (by_sid["CA901"]["attempts"], by_sid["CA901"]["outcome"]) == (3, "no answer")
    assert (by_sid["CA902"]["phone"], by_sid["CA902"]["created_at"]) == (
        "+8613800138002",
        "2026-11-23T14:30:00+00:00",
    )
    assert by_sid["CA902"]["recording_url"].endswith("/Recordings/RE" + "1" * 32)
    assert by_sid["CA907"]["recording_url"].endswith("/Recordings/RE" + "7" * 32)
    assert by_sid["CA904"]["recording_url"] is None


def test_pages_follow_the_cursor_through_ties(app: Flask, owed: dict[str, int]) -> None:
    for limit in (1, 3, 7):
        seen: list[str] = []
        cursor: str | None = ""
        while cursor is not None:
            status, page = api_get(app, f"/api/callbacks?limit={limit}&cursor={cursor}")
            assert status == 200
            assert len(page["callbacks"]) <= limit
            seen += [c["call_sid"] for c in page["callbacks"]]
            cursor = page["next_cursor"]
        assert seen == SOONEST_FIRST


def test_pages_keep_their_filters(app: Flask, owed: dict[str, int]) -> None:
    _, first = api_get(app, "/api/callbacks?status=pending&limit=2")
    _, second = api_get(app, f"/api/callbacks?status=pending&cursor={first['next_cursor']}")
    assert [c["call_sid"] for c in first["callbacks"] + second["callbacks"]] == SOONEST_FIRST[2:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "sids"),
    [
        ("status=pending", ["CA905", "CA904", "CA907", "CA902", "CA903", "CA906"]),
        ("status=done", ["CA900"]),
        ("status=unreachable", ["CA901"]),
        ("status=cancelled", []),
        ("important=true", ["CA900", "CA902"]),
        ("important=false", ["CA901", "CA905", "CA904", "CA907", "CA903", "CA906"]),
        ("overdue=true", ["CA905", "CA904"]),
        ("overdue=false", ["CA900", "CA901", "CA907", "CA902", "CA903", "CA906"]),
        ("overdue=true&important=true", []),
        ("status=pending&important=true", ["CA902"]),
        # Dates are whole days in the hotline's time zone; due_before's day is included.
        ("due_before=2026-11-23", ["CA900", "CA901", "CA905"]),
        ("due_after=2026-11-24", ["CA904", "CA907", "CA902", "CA903", "CA906"]),
        (
            "due_after=2026-11-24&due_before=2026-11-24",
            ["CA904", "CA907", "CA902", "CA903", "CA906"],
        ),
        ("due_after=2026-11-25", []),
        # Datetimes: due_after inclusive, due_before exclusive; no zone means the hotline's.
        ("due_before=2026-11-24T07:00:00%2B08:00", ["CA900", "CA901", "CA905"]),
        ("due_after=2026-11-24T07:00:00%2B08:00", ["CA904", "CA907", "CA902", "CA903", "CA906"]),
        ("due_after=2026-11-24T12:00&due_before=2026-11-24T22:40", ["CA907", "CA902"]),
        ("due_after=2026-11-24T14:40:00Z", ["CA903", "CA906"]),
    ],
)
def test_filters(app: Flask, owed: dict[str, int], query: str, sids: list[str]) -> None:
    assert listed(app, query) == sids


def test_overdue_follows_the_clock(app: Flask, owed: dict[str, int], clock: FrozenClock) -> None:
    clock.set(local(24, 21, 0, 1))  # the important message's day is over
    assert listed(app, "overdue=true") == ["CA905", "CA904", "CA907", "CA902"]
    _, body = api_get(app, "/api/callbacks?status=pending")
    assert [c["overdue"] for c in body["callbacks"]] == [True, True, True, True, False, False]
    clock.set(local(23, 10, 0))  # before anything was due
    assert listed(app, "overdue=true") == []
    worked_on(app, "CA905", CallbackStatus.CANCELLED, 0, "resident called us again")
    clock.set(MORNING + timedelta(days=2))
    assert listed(app, "overdue=true") == ["CA904", "CA907", "CA902", "CA903", "CA906"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=late", "status must be one of: pending, done, unreachable, cancelled"),
        ("important=yes", "important must be true or false"),
        ("overdue=1", "overdue must be true or false"),
        ("due_after=tomorrow", "'tomorrow' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("due_before=2026-13-01", "'2026-13-01' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("due_after=2026-11-24&due_before=2026-11-23", "'due_before' must be after 'due_after'"),
        ("limit=0", "limit must be a whole number from 1 to 200"),
        ("limit=201", "limit must be a whole number from 1 to 200"),
        ("cursor=%%%", "cursor is not one this API returned"),
    ],
)
def test_bad_filters_are_explained(app: Flask, query: str, message: str) -> None:
    status, body = api_get(app, f"/api/callbacks?{query}")
    assert (status, body) == (400, {"error": message})
    conforms(body, "Error")


def test_one_callback_with_the_call_that_caused_it(app: Flask, owed: dict[str, int]) -> None:
    status, body = api_get(app, f"/api/callbacks/{owed['CA900']}")
    assert status == 200
    conforms(body, "CallbackWithCall")
    assert (body["id"], body["reason"], body["status"], body["attempts"]) == (
        owed["CA900"],
        "requested from the general queue after 2 min",
        "done",
        1,
    )
    call = body["call"]
    conforms(call, "Call")
    assert (call["call_sid"], call["outcome"], call["queue"], call["duration_s"]) == (
        "CA900",
        "callback",
        "general",
        160,
    )


def test_an_overdue_callback_says_so(app: Flask, owed: dict[str, int]) -> None:
    status, body = api_get(app, f"/api/callbacks/{owed['CA904']}")
    assert status == 200
    assert (body["overdue"], body["call"]["category"], body["call"]["outcome"]) == (
        True,
        "complaint",
        "abandoned",
    )


def test_a_callback_whose_call_is_not_in_the_log(app: Flask, clock: FrozenClock) -> None:
    with app.app_context(), services().db.session() as session:
        callback = Callback(
            dedupe_key="manual:1",
            call_sid=None,
            phone="+8613800138099",
            reason="asked at the front desk",
            due_at=clock.now() + timedelta(hours=1),
            status=CallbackStatus.PENDING,
            created_at=clock.now(),
        )
        session.add(callback)
        session.flush()
        ident = callback.id
    status, body = api_get(app, f"/api/callbacks/{ident}")
    assert status == 200
    conforms(body, "CallbackWithCall")
    assert (body["call_sid"], body["call"], body["important"], body["attempts"]) == (
        None,
        None,
        False,
        0,
    )


@pytest.mark.parametrize("key", ["999", "nope", "01", "1.0", "-1", "99999999999999999999"])
def test_an_unknown_callback_is_404(app: Flask, owed: dict[str, int], key: str) -> None:
    status, body = api_get(app, f"/api/callbacks/{key}")
    assert (status, body) == (404, {"error": f"no callback {key}"})
    conforms(body, "Error")


def test_what_each_callback_is_about(app: Flask, owed: dict[str, int]) -> None:
    _, body = api_get(app, "/api/callbacks")
    about = {
        c["call_sid"]: (c["kind"], c["queue"], c["keeps_place"], c["locale"], c["next_attempt_at"])
        for c in body["callbacks"]
    }
    assert about == {
        "CA900": ("resident", "general", True, "zh-CN", None),  # virtual hold: keeps its place
        "CA901": ("resident", "general", False, "zh-CN", None),
        "CA905": ("resident", "repair", False, "zh-CN", None),
        "CA904": ("resident", "complaint", False, "zh-CN", None),
        "CA907": ("resident", None, False, "zh-CN", None),
        "CA902": ("resident", "inquiry", False, "zh-CN", None),
        "CA903": ("resident", "inquiry", False, "zh-CN", None),
        "CA906": ("resident", "inquiry", False, "zh-CN", None),
    }


def test_owner_and_attempts_are_shown(
    app: Flask, owed: dict[str, int], clock: FrozenClock, make_user: Callable[..., User]
) -> None:
    agent = make_user("agent7", display_name="王芳")
    tried = clock.now() - timedelta(minutes=20)
    with app.app_context(), services().db.session() as session:
        callback = session.get(Callback, owed["CA905"])
        assert callback is not None
        callback.owner_id, callback.attempts = agent.id, 1
        callback.next_attempt_at = tried + timedelta(minutes=15)
        callback.outcome = "resident: no-answer; next try 11-24 07:55"
        session.add(
            CallbackAttempt(
                callback_id=callback.id,
                number=1,
                idempotency_key=f"callback:{callback.id}:attempt:1",
                status=AttemptStatus.RESIDENT_NO_ANSWER,
                agent_id=agent.id,
                call_sid="CA" + "5" * 32,
                started_at=tried,
                ended_at=tried + timedelta(minutes=1),
                outcome="resident: no-answer",
            )
        )
    status, body = api_get(app, f"/api/callbacks/{owed['CA905']}")
    assert status == 200
    conforms(body, "CallbackWithCall")
    person = {"id": agent.id, "username": "agent7", "display_name": "王芳"}
    assert (body["owner"], body["attempts"], body["next_attempt_at"], body["completed_at"]) == (
        person,
        1,
        "2026-11-23T23:55:00+00:00",
        None,
    )
    assert body["attempt_log"] == [
        {
            "number": 1,
            "status": "resident_no_answer",
            "agent": person,
            "call_sid": "CA" + "5" * 32,
            "started_at": "2026-11-23T23:40:00+00:00",
            "ended_at": "2026-11-23T23:41:00+00:00",
            "outcome": "resident: no-answer",
        }
    ]
    _, listed_body = api_get(app, "/api/callbacks?status=pending&limit=1")
    [first] = listed_body["callbacks"]
    conforms(first, "Callback")
    assert (first["owner"], len(first["attempt_log"])) == (person, 1)


def test_return_visits_are_listed_by_kind(
    app: Flask, owed: dict[str, int], clock: FrozenClock
) -> None:
    with app.app_context(), services().db.session() as session:
        session.add(
            Callback(
                dedupe_key="survey:ticket:1:x",
                phone="+8613800138000",
                reason="return visit: repair 1123001 resolved",
                kind=CallbackKind.SURVEY,
                queue="repair",
                due_at=clock.now() + timedelta(hours=22),
                next_attempt_at=clock.now(),
                status=CallbackStatus.PENDING,
                created_at=clock.now(),
            )
        )
    _, surveys = api_get(app, "/api/callbacks?kind=survey")
    assert [(c["kind"], c["reason"]) for c in surveys["callbacks"]] == [
        ("survey", "return visit: repair 1123001 resolved")
    ]
    assert listed(app, "kind=resident") == SOONEST_FIRST
    status, body = api_get(app, "/api/callbacks?kind=robot")
    assert (status, body) == (400, {"error": "kind must be one of: resident, survey, alert"})
