"""One bad byte never loses a call: Twilio's fields are cleaned at the edge, the worker cleans
again, and an event that still cannot be stored is parked as a dead letter while the rest of
its call is kept. Replayed jobs add nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import ivr.calllog.write
import ivr.intake.events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import Call, Callback, CallEventRow, DeadLetter
from ivr.queues import CALL_LOG_JOB, CALL_LOG_QUEUE, RECORD_JOB, call_log_queue
from ivr.services import services
from tests.call_walk import remembered_in
from tests.twilio_fake import TwilioFake, Verb, call_params

MENU_STEP = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0"
QUEUE_RESULT = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
DIALED = "/voice/dialed?node=oncall&lang=zh-CN&seq=3&ni=0&nm=0&d.rung=0"
MESSAGE = "/voice/message?node=after_hours_message&lang=zh-CN&seq=2&ni=0&nm=0"
CALLER = "+8613800138000"

# Each field, the webhook that reads it, and what Twilio posts with it there.
POISONED_FIELDS: list[tuple[str, str, dict[str, str]]] = [
    ("From", "/voice/incoming", {}),
    ("To", "/voice/incoming", {}),
    ("CallerName", "/voice/incoming", {"CallerName": "王小明"}),
    ("QueueResult", QUEUE_RESULT, {"QueueResult": "hangup", "QueueTime": "35"}),
    ("DialCallStatus", DIALED, {"DialCallStatus": "no-answer"}),
    (
        "RecordingUrl",
        MESSAGE,
        {
            "RecordingUrl": "https://api.twilio.com/r/RE4",
            "RecordingSid": "RE4",
            "RecordingDuration": "17",
        },
    ),
    (
        "SequenceNumber",
        "/voice/status",
        {"CallStatus": "completed", "CallDuration": "52", "SequenceNumber": "3"},
    ),
]


def poisoned(value: str) -> str:
    """A NUL and other control characters inside an ordinary value."""
    return value[:2] + "\x00\x07" + value[2:] + "\x00"


def logged(app: Flask, call_sid: str) -> list[tuple[Any, ...]]:
    """The call's events as the call log holds them, without what differs between calls."""
    with app.app_context(), services().db.reader() as session:
        rows = session.scalars(
            select(CallEventRow).where(CallEventRow.call_sid == call_sid).order_by(CallEventRow.id)
        ).all()
        return [
            (r.kind, r.seq, r.node, {k: v for k, v in r.detail.items() if k != "response_ms"})
            for r in rows
        ]


def register_entry(app: Flask, call_sid: str) -> tuple[Any, ...]:
    with app.app_context(), services().db.reader() as session:
        call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        return (
            call.caller_number,
            call.called_number,
            call.caller_name,
            call.status,
            call.outcome,
            call.duration_s,
            call.recording_url,
            call.content,
        )


def count(app: Flask, model: type[Any]) -> int:
    with app.app_context(), services().db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def dead_letters(app: Flask) -> list[DeadLetter]:
    with app.app_context(), services().db.reader() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def opened(app: Flask, verbs: list[Verb]) -> list[Verb]:
    """The TwiML with each sealed call state opened: sealing is fresh each time."""

    def unseal(value: str) -> str:
        if "d=" not in value:
            return value
        head, _, _ = value.partition("&d=")
        return f"{head}&d={sorted(remembered_in(app, value).items())}"

    return [
        Verb(
            verb.tag,
            {name: unseal(value) for name, value in verb.attrs.items()},
            unseal(verb.text),
            opened(app, verb.children),
        )
        for verb in verbs
    ]


def walk(twilio: TwilioFake, call_sid: str, path: str, form: dict[str, str]) -> list[Any]:
    """The call answered (unless the field is the answer's), then the webhook with `form`."""
    if path != "/voice/incoming":
        twilio.answer(call_sid)
    return twilio.twiml(path, call_params(call_sid, **form))


@pytest.mark.parametrize(("field", "path", "form"), POISONED_FIELDS)
def test_a_nul_in_a_twilio_field_is_answered_and_logged_like_a_clean_call(
    twilio: TwilioFake,
    run_jobs: Callable[[], int],
    app: Flask,
    field: str,
    path: str,
    form: dict[str, str],
) -> None:
    clean = call_params("CA900", **form)[field]
    heard_clean = walk(twilio, "CA900", path, {**form, field: clean})
    heard = walk(twilio, "CA901", path, {**form, field: poisoned(clean)})
    assert opened(app, heard) == opened(app, heard_clean)
    run_jobs()
    assert logged(app, "CA901") == logged(app, "CA900")
    assert len(logged(app, "CA901")) >= 2
    assert register_entry(app, "CA901") == register_entry(app, "CA900")
    assert dead_letters(app) == []


@pytest.mark.parametrize("confidence", ["nan", "NaN", "inf", "-inf", "1e999", "7", "-0.5", "x"])
def test_a_confidence_out_of_range_counts_as_absent(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask, confidence: str
) -> None:
    twilio.answer("CA902")
    verbs = twilio.follow(MENU_STEP, "CA902", SpeechResult="我要投诉", Confidence=confidence)
    plain = twilio.follow(MENU_STEP, "CA909", SpeechResult="我要投诉")
    assert opened(app, verbs) == opened(app, plain)
    run_jobs()
    [said] = [e for e in logged(app, "CA902") if e[0] == EventKind.SPEECH]
    assert said[3] == {
        "text": "我要投诉",
        "confidence": None,
        "via": "keyword",
        "score": 1.0,
        "words": ["投诉"],
        "option": "2",
        "goto": "complaint",
    }


def test_a_readable_confidence_is_kept(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    twilio.answer("CA903")
    twilio.follow(MENU_STEP, "CA903", SpeechResult="我要投诉", Confidence="0.91")
    run_jobs()
    [said] = [e for e in logged(app, "CA903") if e[0] == EventKind.SPEECH]
    assert said[3]["confidence"] == 0.91


def test_a_recording_url_that_is_not_a_web_address_is_no_recording(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    twilio.answer("CA904")
    twilio.follow(MESSAGE, "CA904", RecordingUrl="javascript:alert(1)", RecordingSid="RE9")
    run_jobs()
    assert register_entry(app, "CA904")[6] is None


# --- the worker ----------------------------------------------------------------------------


def enqueue(redis: Redis, payload: list[Any]) -> None:
    call_log_queue(redis).enqueue(RECORD_JOB, payload, **CALL_LOG_JOB)


def raw_events(clock: FrozenClock, call_sid: str) -> list[dict[str, Any]]:
    """A job's payload as an older release, or a forger, could have left it."""
    at = clock.now()
    return [
        CallEvent(
            call_sid,
            EventKind.CALL_STARTED,
            at,
            node="welcome",
            detail={
                "from": "+86\x001380013\x008000",
                "to": "+86571\x0012345678",
                "caller_name": "王\x00",
            },
        ).to_dict(),
        CallEvent(
            call_sid,
            EventKind.SPEECH,
            at,
            seq=1,
            node="main_menu\x00",
            detail={"text": "漏水\x00", "confidence": float("nan"), "score": [float("inf"), 1]},
        ).to_dict(),
        CallEvent(
            call_sid, EventKind.STATUS, at, node="status", detail={"status": "completed"}
        ).to_dict(),
    ]


def test_the_worker_cleans_what_the_edge_did_not(
    redis: Redis, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    enqueue(redis, raw_events(clock, "CA910\x00"))
    run_jobs()
    assert [e[:3] for e in logged(app, "CA910")] == [
        ("call_started", 0, "welcome"),
        ("speech", 1, "main_menu"),
        ("status", 0, "status"),
    ]
    assert logged(app, "CA910")[1][3] == {"text": "漏水", "confidence": None, "score": [None, 1]}
    assert register_entry(app, "CA910")[:4] == (CALLER, "+8657112345678", "王", "completed")
    assert dead_letters(app) == []


def unstorable(kind: EventKind, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events of `kind` break a rule of the table (NOT NULL), on every backend."""
    event_row = ivr.calllog.write._event_row

    def refused(event: CallEvent) -> dict[str, Any]:
        row = event_row(event)
        return {**row, "at": None} if event.kind == kind else row

    monkeypatch.setattr(ivr.calllog.write, "_event_row", refused)


def queued_payloads(redis: Redis) -> list[list[dict[str, Any]]]:
    return [job.args[0] for job in Queue(CALL_LOG_QUEUE, connection=redis).jobs]


def walk_a_message(twilio: TwilioFake, call_sid: str) -> None:
    twilio.answer(call_sid)
    twilio.follow(MENU_STEP, call_sid, SpeechResult="我要投诉", Confidence="0.8")
    twilio.follow(
        "/voice/message?node=take_message&lang=zh-CN&seq=2&ni=0&nm=0",
        call_sid,
        RecordingUrl="https://api.twilio.com/r/RE1",
        RecordingSid="RE1",
        RecordingDuration="12",
    )
    twilio.post("/voice/status", call_params(call_sid, CallStatus="completed", CallDuration="40"))


def test_an_event_that_cannot_be_stored_is_parked_and_the_call_kept(
    twilio: TwilioFake,
    redis: Redis,
    run_jobs: Callable[[], int],
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walk_a_message(twilio, "CA920")
    payloads = queued_payloads(redis)
    sent = [item for payload in payloads for item in payload]
    unstorable(EventKind.SPEECH, monkeypatch)
    run_jobs()
    kinds = [e[0] for e in logged(app, "CA920")]
    assert kinds == [item["kind"] for item in sent if item["kind"] != "speech"]
    assert "message_recorded" in kinds
    entry = register_entry(app, "CA920")
    assert (entry[3], entry[4], entry[6]) == (
        "completed",
        "message",
        "https://api.twilio.com/r/RE1",
    )
    assert count(app, Callback) == 1  # the message's callback was still promised
    [letter] = dead_letters(app)
    [speech] = [item for item in sent if item["kind"] == "speech"]
    assert (letter.call_sid, letter.event_key, letter.resolved) == ("CA920", speech["key"], False)
    assert letter.source == "record_call_events"
    assert letter.error_class.startswith("IntegrityError")
    assert "call_events.at" in letter.error_message or '"at"' in letter.error_message
    assert "[SQL" not in letter.error_message
    assert "CA920" not in letter.error_message
    assert '"kind": "speech"' in letter.event
    assert "我要投诉" in letter.event

    # RQ runs jobs at least once: the same jobs again add no row and no dead letter.
    stored, parked, callbacks = count(app, CallEventRow), count(app, DeadLetter), 1
    for payload in payloads:
        enqueue(redis, payload)
    run_jobs()
    assert (count(app, CallEventRow), count(app, DeadLetter)) == (stored, parked)
    assert count(app, Callback) == callbacks
    assert count(app, Call) == 1


def test_a_nul_that_reaches_the_database_is_escaped_in_the_dead_letter(
    redis: Redis,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(CallEvent, "storable", lambda event: event)  # no second cleaning
    unstorable(EventKind.SPEECH, monkeypatch)
    enqueue(redis, raw_events(clock, "CA930"))
    run_jobs()
    letters = {d.event_key: d for d in dead_letters(app)}
    letter = letters["CA930:1:speech:main_menu"]
    assert all("\x00" not in d.event + d.event_key + d.call_sid for d in letters.values())
    assert "漏水\\u0000" in letter.event
    assert "NaN" in letter.event


def test_an_unreadable_item_is_parked_once_and_the_rest_stored(
    redis: Redis, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    payload: list[Any] = [
        *raw_events(clock, "CA940"),
        {"call_sid": "CA940", "kind": "no-such-kind", "at": "yesterday"},
        "not an event",
    ]
    enqueue(redis, payload)
    enqueue(redis, payload)
    run_jobs()
    assert len(logged(app, "CA940")) == 3
    letters = dead_letters(app)
    assert [(d.call_sid, d.error_class) for d in letters] == [
        ("CA940", "ValueError"),
        ("", "TypeError"),
    ]
    assert all(d.event_key.startswith("unreadable:") for d in letters)
    assert letters[1].event == '"not an event"'


def test_a_database_that_cannot_be_reached_fails_the_job_for_a_retry(
    redis: Redis,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(*_: Any) -> int:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ivr.intake.events, "record_events", unreachable)
    enqueue(redis, raw_events(clock, "CA950"))
    run_jobs()
    retries = ScheduledJobRegistry(queue=call_log_queue(redis))  # type: ignore[no-untyped-call]
    assert retries.count == 1  # RQ runs it again later
    assert (count(app, CallEventRow), dead_letters(app)) == (0, [])
