"""Odd input gets valid TwiML and a polite answer: never a 500, never a silent call."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from ivr.services import services
from tests.api_client import api_get
from tests.conftest import AUTH_TOKEN, BASE_URL
from tests.twilio_fake import TwilioFake, call_params

MENU_STEP = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0"
GREETING = "您好，幸福家园物业客服中心，很高兴为您服务。"


def test_five_thousand_digits_are_an_invalid_choice(twilio: TwilioFake) -> None:
    verbs = twilio.follow(MENU_STEP, "CA300", Digits="1" * 5000)
    assert verbs[0].text == "对不起，您的输入有误。"
    assert verbs[1].attrs["action"] == "/voice/step?node=main_menu&lang=zh-CN&seq=2&ni=0&nm=1"


def test_markup_and_control_characters_in_speech_stay_text(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    speech = '</Say><Hangup/>\x00\x1b[31m<script>alert("x")</script>漏水 & "quotes"'
    verbs = twilio.follow(MENU_STEP, "CA301", SpeechResult=speech)
    assert [v.tag for v in verbs] == [
        "Say",
        "Gather",
        "Redirect",
    ]  # the repair menu; nothing injected
    assert verbs[1].attrs["action"].startswith("/voice/step?node=repair_menu&")
    run_jobs()
    events = api_get(app, "/api/calls/CA301")[1]["events"]
    said = next(e for e in events if e["kind"] == "speech")
    assert said["detail"]["text"] == '</Say><Hangup/>[31m<script>alert("x")</script>漏水 & "quotes"'


def test_markup_in_a_prompt_is_escaped_by_the_builder(twilio: TwilioFake, app: Flask) -> None:
    with app.app_context():
        services().engine.values["hotline_name"] = "<b>A&B</b>"
    response = twilio.post("/voice/incoming", call_params("CA302"))
    body = response.get_data(as_text=True)
    assert "您好，&lt;b&gt;A&amp;B&lt;/b&gt;客服中心" in body


@pytest.mark.parametrize(
    "path",
    [
        "/voice/step",
        "/voice/step?node=nowhere&lang=zh-CN&seq=1",
        "/voice/step?node=welcome&lang=zh-CN&seq=1",
        "/voice/step?node=main_menu&lang=xx-XX&seq=abc&ni=-4",
    ],
)
def test_odd_positions_restart_the_menu_politely(twilio: TwilioFake, path: str) -> None:
    verbs = twilio.follow(path, "CA303", Digits="7")
    assert verbs[0].text in {GREETING, "对不起，您的输入有误。"}
    assert [v.tag for v in verbs][-2:] == ["Gather", "Redirect"]


def test_absurd_failure_counts_end_with_a_person_not_a_loop(twilio: TwilioFake) -> None:
    verbs = twilio.follow(
        "/voice/step?node=main_menu&lang=zh-CN&seq=1&nm=99999999999999999999", "CA303"
    )
    assert [(v.tag, v.text) for v in verbs] == [
        ("Say", "正在为您转接人工客服，请稍候。"),
        ("Enqueue", "general"),
    ]


def test_missing_parameters_still_get_the_greeting(twilio: TwilioFake) -> None:
    verbs = twilio.twiml("/voice/incoming", {})
    assert verbs[0].text == GREETING


def test_a_status_callback_for_an_unknown_call_is_accepted(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask
) -> None:
    response = twilio.post(
        "/voice/status", call_params("CA304", CallStatus="completed", CallDuration="31")
    )
    assert response.status_code == 200
    run_jobs()
    call = api_get(app, "/api/calls/CA304")[1]
    assert (call["status"], call["duration_s"], call["outcome"]) == ("completed", 31, "abandoned")


def test_an_unknown_status_is_logged_not_crashed_on(
    twilio: TwilioFake, run_jobs: Callable[[], int], app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    twilio.answer("CA305")
    assert (
        twilio.post("/voice/status", call_params("CA305", CallStatus="teleported")).status_code
        == 200
    )
    run_jobs()
    assert "call CA305: unknown status 'teleported' ignored" in caplog.text
    assert api_get(app, "/api/calls/CA305")[1]["status"] == "in-progress"


def test_a_bug_in_the_flow_answers_with_the_fallback(
    twilio: TwilioFake,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    with app.app_context():
        monkeypatch.setattr(services().engine, "step", broken)
    verbs = twilio.follow(MENU_STEP, "CA306", Digits="1")
    assert [v.tag for v in verbs] == ["Say", "Record", "Say", "Hangup"]
    assert verbs[0].text.startswith("您好，幸福家园物业客服中心。对不起，系统正在维护")
    assert "voice webhook /voice/step failed; answering with the fallback" in caplog.text


def test_the_fallback_url_needs_no_database_and_no_redis(make_app: Callable[..., Flask]) -> None:
    """Twilio's Fallback URL must answer even when the database and Redis are gone."""
    app = make_app(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
    )
    twilio = TwilioFake(app.test_client(), BASE_URL, AUTH_TOKEN)
    verbs = twilio.twiml(
        "/voice/fallback", call_params("CA307", ErrorCode="11200", ErrorUrl="https://x/voice")
    )
    assert [v.tag for v in verbs] == ["Say", "Record", "Say", "Hangup"]
    assert verbs[1].attrs["action"] == "/voice/fallback?stage=recorded"
    done = twilio.twiml(
        "/voice/fallback?stage=recorded",
        call_params(
            "CA307",
            RecordingUrl="https://api.twilio.com/r/RE9",
            RecordingSid="RE9",
            RecordingDuration="8",
        ),
    )
    assert [v.text for v in done][:2] == [
        "您的留言已收到，谢谢。",
        "谢谢您的来电，我们会尽快答复，再见！",
    ]
    # and the whole menu still answers, its events kept in the spool
    assert twilio.answer("CA307")[0].text == GREETING
