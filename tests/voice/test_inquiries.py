"""Inquiries (R7), office hours (R10) and the caller's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.app import refresh_directory
from ivr.core.clock import FrozenClock
from ivr.models import Callback, Resident
from ivr.registry.residents import import_residents
from ivr.services import services
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import AUTH_TOKEN, BASE_URL, SHANGHAI
from tests.records import stored
from tests.twilio_fake import TwilioFake

FEE_ANSWER = (
    "物业费可以在物业服务中心前台缴纳，也可以通过银行代扣或线上缴费，按季度收取，逾期请尽快补缴。"
)
AFTER_ANSWER = "重听请按星号键，问其他问题请按1，人工服务请按0，返回主菜单请按9。"


def callbacks(app: Flask) -> list[Callback]:
    return stored(app, Callback)


def test_an_answer_can_be_repeated_and_left(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA700").start().press("3")
    assert walk.last_heard[1].startswith("办公时间请按1，物业费缴纳请按2")
    walk.press("2")
    assert walk.last_heard == [FEE_ANSWER, AFTER_ANSWER]
    walk.press("*")
    assert walk.last_heard == [FEE_ANSWER, AFTER_ANSWER]
    walk.press("1")
    assert walk.last_heard[0].startswith("办公时间请按1")


@pytest.mark.parametrize(
    ("words", "answer_starts"),
    [
        ("我想问一下装修要办什么手续", "装修前请携带身份证"),
        ("门禁卡丢了怎么补办", "每户免费提供三张门禁卡"),
        ("停车月卡怎么办", "车位租用和月卡办理"),
    ],
)
def test_questions_can_be_asked_in_words(
    twilio: TwilioFake, words: str, answer_starts: str
) -> None:
    walk = Walk(twilio, "CA701").start().press("3").say(words)
    assert walk.last_heard[0].startswith(answer_starts)


def test_an_answer_heard_in_full_ends_with_the_rating(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA702").start().press("3").press("1")
    assert (
        walk.last_heard[0]
        == "客服中心每天07:00-21:00为您服务，工作时间以外的紧急报修由值班工程师处理。"
    )
    walk.silence()  # anything else? before the rating
    assert walk.last_heard == ["还有其他问题吗？有请按1，没有请按2，人工服务请按0。"]
    walk.press("2")
    assert walk.last_heard == ["请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。"]
    walk.press("1")  # an answered question is not promised an answer later
    assert walk.last_heard == ["谢谢您的评价。", "谢谢您的来电，祝您生活愉快，再见！"]


SORRY = (
    "非常抱歉，这次没能让您满意，我们已请客服主管跟进。需要人工服务请按0，留言并等我们回电请按1。"
)


def rated_dissatisfied(twilio: TwilioFake, sid: str) -> Walk:
    walk = Walk(twilio, sid).start().press("3").press("1").silence().press("2").press("3")
    assert walk.last_heard == [SORRY]
    return walk


def test_a_dissatisfied_caller_offered_a_person_is_put_through(twilio: TwilioFake) -> None:
    walk = rated_dissatisfied(twilio, "CA706").press("0")
    assert walk.tags == ["Say", "Enqueue"]
    assert walk.last_heard == ["正在为您转接人工客服，请稍候。"]
    assert walk.verbs[1].text == "general"


def test_a_dissatisfied_caller_may_leave_a_message_for_an_important_callback(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = rated_dissatisfied(twilio, "CA707").press("1")
    assert walk.last_heard == [
        "请在提示音后说说您不满意的地方，并留下联系电话，按井号键结束。客服主管会在今天之内给您回电。"
    ]
    assert walk.tags == ["Say", "Record", "Redirect"]
    walk.record()
    assert walk.last_heard == ["您的留言已收到，谢谢。", "谢谢您的来电，我们会尽快给您回电，再见！"]
    walk.hang_up()
    run_jobs()
    [callback] = callbacks(app)
    assert (callback.phone, callback.important, callback.recording_url is not None) == (
        "+8613800138000",
        True,
        True,
    )


def test_in_office_hours_an_unanswered_question_goes_to_a_person(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA703").start().press("3").press("4").press("0")
    assert walk.tags == ["Say", "Enqueue"]
    assert walk.verbs[1].text == "inquiry"


@pytest.mark.parametrize(
    ("press", "important", "due"),
    [
        ("1", True, datetime(2026, 11, 24, 21, 0, tzinfo=SHANGHAI)),  # the same (working) day
        ("2", False, datetime(2026, 11, 24, 22, 30, tzinfo=SHANGHAI)),  # within 24 hours
    ],
)
def test_out_of_hours_a_message_becomes_a_callback_with_its_deadline(
    twilio: TwilioFake,
    app: Flask,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    press: str,
    important: bool,
    due: datetime,
) -> None:
    clock.set(datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI))
    walk = Walk(twilio, "CA704").start().press("3").press("0")
    assert walk.last_heard == [
        "现在无法为您接通人工客服。如果是紧急或重要的事情请按1，一般事项请按2。"
    ]
    walk.press(press)
    assert walk.tags == ["Say", "Record", "Redirect"]
    walk.record()
    assert walk.last_heard == ["您的留言已收到，谢谢。", "谢谢您的来电，我们会尽快给您回电，再见！"]
    walk.hang_up()
    run_jobs()
    [callback] = callbacks(app)
    assert (callback.phone, callback.important, callback.status) == (
        "+8613800138000",
        important,
        "pending",
    )
    assert callback.due_at == due
    assert callback.recording_url is not None
    assert api_get(app, "/api/calls/CA704")[1]["outcome"] == "message"


def test_a_message_replayed_is_one_callback(
    twilio: TwilioFake, app: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    walk = Walk(twilio, "CA705").start().press("0")
    record_url = walk.record_action
    walk.record()
    walk.post(
        record_url,
        RecordingUrl="https://api.twilio.com/r/RE1",
        RecordingSid="RE1",
        RecordingDuration="5",
    )
    run_jobs()
    assert [c.reason for c in callbacks(app)] == ["message left out of hours"]


def test_holidays_and_the_closed_switch_close_the_office(make_app: Callable[..., Flask]) -> None:
    holiday = make_app(holidays=frozenset({date(2026, 11, 23)}))
    walk = Walk(TwilioFake(holiday.test_client(), BASE_URL, AUTH_TOKEN), "CA706").start().press("0")
    assert walk.last_heard[0].startswith(
        "您好，客服中心的工作时间是每天07:00-21:00，现在是非工作时间。"
    )
    closed = make_app(closed=True)
    walk = Walk(TwilioFake(closed.test_client(), BASE_URL, AUTH_TOKEN), "CA707").start().press("0")
    assert walk.tags == ["Say", "Record", "Redirect"]
    # Closed by hand: closed today, not "after hours".
    assert walk.last_heard == [
        "您好，客服中心今天临时停止服务，暂时无法为您接通人工客服。请在提示音后留下您的姓名、房号、"
        "联系电话和需要办理的事项，按井号键结束，我们恢复服务后会尽快给您回电。"
    ]


def test_a_residents_language_is_remembered(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    with app.app_context(), services().db.session() as session:
        import_residents(
            session, "building,unit,room,name,phone,language\n3,2,501,王芳,+8613800138000,zh-CN\n"
        )
    refresh_directory(app)
    Walk(twilio, "CA708").start().press("9")
    run_jobs()
    with app.app_context(), services().db.reader() as session:
        assert session.scalars(select(Resident.language)).one() == "en-US"
    refresh_directory(app)
    walk = Walk(twilio, "CA709").start()
    assert (
        walk.last_heard[0]
        == "Hello, this is the Happy Home Property customer service centre. We are glad to help you."
    )
