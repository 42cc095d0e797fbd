"""The call log (R3): written by RQ workers, idempotent under replays, kept through a Redis outage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

from ivr.calllog.sink import CallLogSink
from ivr.calllog.spool import Spool
from ivr.calllog.write import DISSATISFIED_FOLLOW_UP, record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import Call, CallEventRow
from ivr.services import services
from ivr.store.db import Database
from ivr.store.redis_link import connect
from ivr.store.redis_rest import RedisRest
from tests.call_walk import Walk
from tests.conftest import AUTH_TOKEN, BASE_URL, SHANGHAI
from tests.twilio_fake import TwilioFake, call_params

MOMENT = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

MENU_STEP = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0"


def call_record(app: Flask, call_sid: str) -> Call:
    with app.app_context(), services().db.reader() as session:
        return session.scalars(select(Call).where(Call.call_sid == call_sid)).one()


def event_count(app: Flask) -> int:
    with app.app_context(), services().db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(CallEventRow)) or 0)


def walk_a_complaint(twilio: TwilioFake, clock: FrozenClock, sid: str = "CA400") -> None:
    """A caller says they want to complain, then hangs up while asked for their building."""
    twilio.answer(sid, caller="+8613912345678")
    clock.advance(seconds=8)
    asked = twilio.follow(MENU_STEP, sid, SpeechResult="我要投诉噪音", Confidence="0.91")
    clock.advance(seconds=40)
    silence = next(verb.text for verb in asked if verb.tag == "Redirect")
    assert silence.startswith("/voice/step?node=ask_building&lang=zh-CN&seq=2&ni=0&nm=0&d=")
    twilio.follow(silence, sid)
    clock.advance(seconds=1)
    twilio.post(
        "/voice/status",
        call_params(sid, CallStatus="completed", CallDuration="49", SequenceNumber="0"),
    )


def test_a_walked_call_is_registered_with_its_events(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    walk_a_complaint(twilio, clock)
    assert run_jobs() == 4
    call = call_record(app, "CA400")
    assert call.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    assert call.ended_at == datetime(2026, 11, 23, 10, 0, 49, tzinfo=SHANGHAI)
    assert (call.caller_number, call.called_number) == ("+8613912345678", "+8657112345678")
    assert (call.category, call.outcome, call.status, call.duration_s) == (
        "complaint",
        "abandoned",
        "completed",
        49,
    )
    assert call.queue is None
    assert call.content == ("main_menu: said “我要投诉噪音” -> complaint\nask_building: no input")
    assert call.greeting_ms is not None
    assert call.greeting_ms > 0


def test_replayed_webhooks_and_jobs_never_duplicate_rows(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask, redis: Redis
) -> None:
    walk_a_complaint(twilio, clock)
    run_jobs()
    rows = event_count(app)
    # Twilio retries every webhook, and RQ runs every job again.
    walk_a_complaint(twilio, FrozenClock(datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)))
    assert run_jobs() == 4
    assert event_count(app) == rows
    with app.app_context(), services().db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 1


def test_events_arriving_out_of_order_converge(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    clock.advance(seconds=30)
    twilio.post("/voice/status", call_params("CA401", CallStatus="completed", CallDuration="30"))
    run_jobs()
    assert call_record(app, "CA401").outcome == "abandoned"
    clock.advance(seconds=-30)
    twilio.answer("CA401")
    twilio.follow(MENU_STEP, "CA401", SpeechResult="我要咨询，转人工")
    run_jobs()
    call = call_record(app, "CA401")
    assert (call.caller_number, call.category, call.outcome, call.status) == (
        "+8613800138000",
        None,
        "transferred",
        "completed",
    )


def test_hanging_up_mid_menu_is_an_abandoned_call(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    twilio.answer("CA402")
    twilio.post("/voice/status", call_params("CA402", CallStatus="completed", CallDuration="4"))
    run_jobs()
    call = call_record(app, "CA402")
    assert (call.outcome, call.category, call.handler) == ("abandoned", None, None)


def test_a_message_left_out_of_hours(
    twilio: TwilioFake, clock: FrozenClock, run_jobs: Callable[[], int], app: Flask
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 15, tzinfo=SHANGHAI))
    twilio.answer("CA403")
    twilio.follow(MENU_STEP, "CA403", Digits="1")
    url = "/voice/message?node=after_hours_message&lang=zh-CN&seq=2&ni=0&nm=0"
    twilio.follow(
        url,
        "CA403",
        RecordingUrl="https://api.twilio.com/r/RE4",
        RecordingSid="RE4",
        RecordingDuration="17",
    )
    twilio.post("/voice/status", call_params("CA403", CallStatus="completed", CallDuration="52"))
    run_jobs()
    call = call_record(app, "CA403")
    assert (call.category, call.outcome, call.handler) == ("repair", "message", "ivr")
    assert call.recording_url == "https://api.twilio.com/r/RE4"
    assert call.content.endswith("after_hours_message: message recorded (17 s)")


@pytest.mark.parametrize(
    ("status", "outcome"), [("busy", "failed"), ("no-answer", "failed"), ("canceled", "failed")]
)
def test_calls_that_never_connected(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask, status: str, outcome: str
) -> None:
    twilio.post("/voice/status", call_params("CA404", CallStatus=status))
    run_jobs()
    assert (call_record(app, "CA404").status, call_record(app, "CA404").outcome) == (
        status,
        outcome,
    )


def test_redis_down_still_answers_and_the_spool_replays(
    make_app: Callable[..., Flask], redis: Redis, run_jobs: Callable[[], int], app: Flask
) -> None:
    """Redis unreachable: the caller is served, the events wait on disk, and arrive later."""
    down = make_app(redis_url="redis://127.0.0.1:1/0")
    twilio = TwilioFake(down.test_client(), BASE_URL, AUTH_TOKEN)
    assert twilio.answer("CA405")[0].text == "您好，幸福家园物业客服中心，很高兴为您服务。"
    assert twilio.follow(MENU_STEP, "CA405", Digits="2")[0].text.startswith("对不起")
    spool: Spool = services_spool(down)
    assert len(spool.pending()) == 2
    assert run_jobs() == 0

    recovered = CallLogSink(redis, spool)
    assert recovered.replay_spool() == 2
    assert spool.pending() == []
    assert run_jobs() == 2
    assert call_record(app, "CA405").category == "complaint"


def services_spool(app: Flask) -> Spool:
    with app.app_context():
        sink = services().sink
        assert isinstance(sink, CallLogSink)
        return sink.spool


def test_a_dead_redis_is_rested_not_retried_on_every_call(tmp_path: Path) -> None:
    now = [100.0]
    attempts: list[str] = []
    redis = connect("redis://127.0.0.1:1/0", 0.1)
    sink = CallLogSink(redis, Spool(tmp_path / "spool"), RedisRest(2.0, lambda: now[0]))
    original = sink._enqueue_or_raise

    def counting(payload: list[dict[str, object]]) -> None:
        attempts.append("try")
        original(payload)

    sink._enqueue_or_raise = counting  # type: ignore[method-assign]
    event = [CallEvent("CA406", EventKind.GREETED, datetime(2026, 11, 23, tzinfo=SHANGHAI))]
    sink.record(event)
    sink.record(event)
    assert len(attempts) == 1
    now[0] += 2.5
    sink.record(event)
    assert len(attempts) == 2
    assert len(sink.spool.pending()) == 3


def test_an_unreadable_spool_file_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put([{"call_sid": "CA407"}])
    bad = spool.directory / "00000000000000000001-1-bad.json"
    bad.write_text("{not json")
    delivered: list[object] = []
    assert spool.drain(delivered.append) == 1
    assert delivered == [[{"call_sid": "CA407"}]]
    assert bad.with_suffix(".unreadable").exists()


def test_two_workers_storing_the_same_calls_at_once_never_deadlock(database_url: str) -> None:
    """Each worker stores webhooks of the same five calls, in its own order, many times
    over; on PostgreSQL the calls' rows were once locked in different orders and deadlocked."""
    db = Database(database_url)
    sids = [f"CA95{n}" for n in range(5)]
    failures: list[Exception] = []
    start = threading.Barrier(2)

    def store(worker: int) -> None:
        order = sids if worker == 0 else sids[::-1]
        start.wait()
        for round_ in range(30):
            events = [
                CallEvent(sid, EventKind.CHOICE, MOMENT, seq=round_ * 2 + worker, node="main_menu")
                for sid in order
            ]
            try:
                with db.session() as session:
                    record_events(session, events)
            except Exception as error:
                failures.append(error)

    workers = [threading.Thread(target=store, args=(n,)) for n in (0, 1)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert failures == []
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(CallEventRow)) == 5 * 60
        assert session.scalar(select(func.count()).select_from(Call)) == 5
    db.dispose()


def test_a_dissatisfied_rating_is_apologised_for_and_flagged_for_follow_up(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    walk = Walk(twilio, "CA410").start().press("3").press("1")  # an inquiry: office hours
    walk.silence().press("2")  # nothing else: asked to rate the service
    assert walk.last_heard == ["请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。"]
    walk.press("3")
    # 不满意: no thanks, but an apology and a person (0) or a message (1) offered.
    assert walk.last_heard == [
        "非常抱歉，这次没能让您满意，我们已请客服主管跟进。需要人工服务请按0，留言并等我们回电请按1。"
    ]
    walk.silence()
    assert walk.last_heard == ["谢谢您的来电，祝您生活愉快，再见！"]
    assert walk.tags[-1] == "Hangup"
    walk.hang_up()
    run_jobs()

    call = call_record(app, "CA410")
    assert (call.satisfaction, call.follow_up) == (3, DISSATISFIED_FOLLOW_UP)
    assert "\nrate: rated 不满意, flagged for the supervisor\n" in call.content
    with app.app_context(), services().db.reader() as session:
        rated = session.scalars(
            select(CallEventRow.detail).where(
                CallEventRow.call_sid == "CA410", CallEventRow.kind == EventKind.RATED.value
            )
        ).all()
    assert rated == [{"rating": 3, "dissatisfied": True}]


@pytest.mark.parametrize("rating", ["1", "2"])
def test_a_satisfied_or_average_rating_is_thanked_and_asks_no_follow_up(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask, rating: str
) -> None:
    walk = Walk(twilio, "CA411").start().press("3").press("1").silence().press("2")
    walk.press(rating)
    assert walk.last_heard == ["谢谢您的评价。", "谢谢您的来电，祝您生活愉快，再见！"]
    walk.hang_up()
    run_jobs()
    call = call_record(app, "CA411")
    assert (call.satisfaction, call.follow_up) == (int(rating), None)
