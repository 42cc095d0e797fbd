"""Waiting for a person (R8): virtual hold, and callbacks for callers who gave up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask

from ivr.core.clock import FrozenClock
from ivr.models import Callback
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import SHANGHAI
from tests.records import stored
from tests.twilio_fake import TwilioFake, call_params


def callbacks(app: Flask) -> list[tuple[str, str, bool, datetime]]:
    return [(row.phone, row.reason, row.important, row.due_at) for row in stored(app, Callback)]


def wait_in_queue(twilio: TwilioFake, sid: str) -> Walk:
    walk = Walk(twilio, sid).start().press("0")
    assert walk.tags == ["Say", "Enqueue"]
    return walk


def test_pressing_1_keeps_the_callers_place_with_a_callback(
    twilio: TwilioFake, app: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    wait_in_queue(twilio, "CA800")
    clock.advance(seconds=150)
    choice = "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0"
    verbs = twilio.follow(choice, "CA800", Digits="1", QueueTime="150", QueuePosition="3")
    assert [v.text for v in verbs] == [
        "好的，我们会按您排队的顺序尽快给您回电，请保持电话畅通。谢谢您的来电，再见！",
        "",
    ]
    assert verbs[-1].tag == "Hangup"
    # Twilio then ends the queue wait: the caller hung up, as they were told to.
    result = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    twilio.follow(result, "CA800", QueueResult="hangup", QueueTime="152")
    twilio.post("/voice/status", call_params("CA800", CallStatus="completed", CallDuration="160"))
    run_jobs()
    assert callbacks(app) == [
        (
            "+8613800138000",
            "requested from the general queue after 2 min",
            True,
            datetime(2026, 11, 23, 10, 2, 30, tzinfo=SHANGHAI),
        )
    ]
    assert api_get(app, "/api/calls/CA800")[1]["outcome"] == "callback"


def test_a_caller_who_hangs_up_in_the_queue_is_called_back_once(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    for sid in ("CA801", "CA802"):  # the same caller gives up twice the same day
        wait_in_queue(twilio, sid)
        result = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
        twilio.follow(result, sid, QueueResult="hangup", QueueTime="70")
        twilio.post("/voice/status", call_params(sid, CallStatus="completed", CallDuration="80"))
    run_jobs()
    assert [(phone, reason) for phone, reason, _, _ in callbacks(app)] == [
        ("+8613800138000", "abandoned in the queue at general")
    ]


def test_hanging_up_mid_menu_after_choosing_a_purpose_means_a_callback(
    twilio: TwilioFake, app: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI))
    Walk(twilio, "CA803").start().press("2")  # a complaint, then silence: the caller hangs up
    twilio.post("/voice/status", call_params("CA803", CallStatus="completed", CallDuration="20"))
    run_jobs()
    assert callbacks(app) == [
        (
            "+8613800138000",
            "abandoned in the IVR at complaint",
            False,
            datetime(2026, 11, 24, 7, 15, tzinfo=SHANGHAI),  # 15 minutes after the opening
        )
    ]


def test_hanging_up_at_the_greeting_is_not_called_back(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    Walk(twilio, "CA804").start()
    twilio.post("/voice/status", call_params("CA804", CallStatus="completed", CallDuration="3"))
    run_jobs()
    assert callbacks(app) == []


def test_virtual_hold_is_logged_after_the_hand_off_even_in_the_same_second(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = wait_in_queue(twilio, "CA805")
    wait_url = walk.verbs[1].attrs["waitUrl"]
    music = twilio.follow(wait_url, "CA805", QueueTime="40", QueuePosition="1")
    choice = next(v for v in music if v.tag == "Gather").attrs["action"]
    twilio.follow(choice, "CA805", Digits="1", QueueTime="45", QueuePosition="1")
    run_jobs()
    assert api_get(app, "/api/calls/CA805")[1]["outcome"] == "callback"


def test_the_wait_estimate_comes_from_recent_answered_callers(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    from ivr.app import refresh_directory

    result = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    for sid, waited in (("CA806", "240"), ("CA807", "360")):
        wait_in_queue(twilio, sid)
        twilio.follow(result, sid, QueueResult="bridged", QueueTime=waited)
    run_jobs()
    refresh_directory(app)
    wait = "/voice/queue/wait?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    fresh = twilio.follow(wait, "CA808", QueueTime="0", QueuePosition="2")
    assert fresh[0].text == "您前面还有1位，预计等待约5分钟。"  # they waited 300 s on average
    later = twilio.follow(wait, "CA808", QueueTime="100", QueuePosition="1")
    assert later[0].text == "下一位就是您，预计等待约4分钟。"  # 200 s to go
