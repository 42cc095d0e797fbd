"""Messages (voicemails) on the desk: listed with the recording and transcription, claimed
by one agent (a colleague's claim is refused, a second claim is harmless), then called back
from "my callbacks"; supervisors also see the callbacks nobody could reach."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import update

from ivr.core.clock import FrozenClock
from ivr.core.labels import reason_label
from ivr.intake.follow_up import CALLBACK_REASONS
from ivr.models import Callback, CallbackStatus, StaffRole, User
from ivr.services import services
from tests.call_walk import Walk
from tests.desk.test_desk import ZHAO_PHONE, add_residents, agent, desk_page, problem_in
from tests.records import stored
from tests.twilio_fake import TwilioFake
from tests.web_client import log_in, page_token

MakeUser = Callable[..., User]
RunJobs = Callable[[], int]
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "1" * 32
GENERAL_RESULT = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"


@pytest.fixture
def message(app: Flask, twilio: TwilioFake, clock: FrozenClock, run_jobs: RunJobs) -> Callback:
    """张伟 waited, left the queue for a message, and left one; it is due within 24 hours."""
    add_residents(app)
    walk = Walk(twilio, "CA900").start().press("0")
    walk.post(GENERAL_RESULT, QueueResult="leave", QueueTime="120")
    walk.record()
    walk.hang_up()
    run_jobs()
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(transcription="请尽快回电，关于停车位的事。"))
    [callback] = stored(app, Callback)
    return callback


def voicemail_ids(html: str, section: str) -> list[str]:
    found = re.search(rf'<ul id="{section}">(.*?)</ul>\s*</section>', html, re.S)
    assert found, section
    return re.findall(r'data-callback-id="(\d+)"', found.group(1))


def claim(client: FlaskClient, callback_id: int) -> tuple[int, str]:
    """The answer's status and where it sends the browser."""
    token = page_token(client, "/desk/")
    response = client.post(f"/desk/callbacks/{callback_id}/claim", data={"csrf_token": token})
    return response.status_code, response.location or ""


def call_now(client: FlaskClient, callback_id: int) -> tuple[int, str]:
    token = page_token(client, "/desk/")
    response = client.post(f"/desk/callbacks/{callback_id}/call-now", data={"csrf_token": token})
    return response.status_code, response.location or ""


def callback_entry(html: str, callback_id: int) -> str:
    found = re.search(
        rf'<li class="callback[^"]*" data-callback-id="{callback_id}".*?</li>', html, re.S
    )
    assert found, f"callback {callback_id} is not on the desk"
    return found.group(0)


def test_messages_show_the_recording_the_transcription_and_the_deadline(
    app: Flask, message: Callback, make_user: MakeUser, clock: FrozenClock
) -> None:
    client, _ = agent(app, make_user)
    html = desk_page(client)
    assert voicemail_ids(html, "voicemail-list") == [str(message.id)]
    entry = callback_entry(html, message.id)
    assert f'<a class="recording" href="{RECORDING}" rel="noreferrer" target="_blank">' in entry
    assert '<blockquote class="transcription">请尽快回电，关于停车位的事。</blockquote>' in entry
    assert '<strong class="caller-name">张伟</strong>' in entry  # from the registry
    assert '<span class="unit">1栋1单元101室</span>' in entry
    assert '<span class="number">+8613800138000</span>' in entry
    assert (
        '<span class="reason">留言：坐席繁忙 <span class="en" lang="en">'
        "Message left: no agent free</span></span>"
    ) in entry
    assert message.reason == "message left: no agent free"  # stored (and served) as it was
    assert '<time datetime="2026-11-24T02:00:00+00:00">11-24 10:00</time>' in html
    assert "overdue-flag" not in html

    clock.advance(hours=25)
    assert '<strong class="overdue-flag">已逾期' in desk_page(client)


def test_a_message_whose_call_is_not_logged_is_still_matched_by_number(
    app: Flask, message: Callback, make_user: MakeUser
) -> None:
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(call_sid=None))
    client, _ = agent(app, make_user)
    entry = callback_entry(desk_page(client), message.id)
    assert '<strong class="caller-name">张伟</strong>' in entry
    assert '<span class="unit">1栋1单元101室</span>' in entry


def test_a_message_from_a_number_nobody_registered_shows_the_number(
    app: Flask, message: Callback, make_user: MakeUser
) -> None:
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(call_sid=None, phone="+8613700137000"))
    client, _ = agent(app, make_user)
    entry = callback_entry(desk_page(client), message.id)
    assert '<strong class="caller-name">+8613700137000</strong>' in entry
    assert 'class="unit"' not in entry


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (
            "requested from the repair queue after 2 min",
            "在报修队列等待2分钟后预约回电"
            ' <span class="en" lang="en">Requested from the repair queue after 2 min</span>',
        ),
        (
            "abandoned in the queue at general",
            "在人工服务队列等待时挂断"
            ' <span class="en" lang="en">Hung up while waiting in the general queue</span>',
        ),
        (
            "abandoned in the IVR at complaint",
            "在自助语音（投诉）中挂断"
            ' <span class="en" lang="en">Hung up in the automated menus (complaint)</span>',
        ),
        (
            "callback promised by 王丽",
            '王丽承诺回电 <span class="en" lang="en">Callback promised by 王丽</span>',
        ),
        (
            "callback promised by <b>x</b>",
            "&lt;b&gt;x&lt;/b&gt;承诺回电"
            ' <span class="en" lang="en">Callback promised by &lt;b&gt;x&lt;/b&gt;</span>',
        ),
        (
            "return visit: repair 1123001 resolved",
            "回访：报修单 1123001 已完成"
            ' <span class="en" lang="en">Return visit: repair order 1123001 resolved</span>',
        ),
        (
            "message left at night_message",
            '留言（night_message） <span class="en" lang="en">Message left at night_message</span>',
        ),
        ("a reason of a form the desk does not know", "a reason of a form the desk does not know"),
    ],
)
def test_the_reason_a_callback_is_owed_shows_in_both_languages(
    app: Flask, message: Callback, make_user: MakeUser, reason: str, shown: str
) -> None:
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(reason=reason))
    client, _ = agent(app, make_user)
    entry = callback_entry(desk_page(client), message.id)
    assert f'<span class="reason">{shown}</span>' in entry
    assert stored(app, Callback)[0].reason == reason


@pytest.mark.parametrize("reason", sorted(CALLBACK_REASONS.values()))
def test_every_message_reason_has_words_in_both_languages(reason: str) -> None:
    chinese, english = reason_label(reason)
    assert chinese != reason
    assert english.lower() == reason.lower()


def test_an_agent_claims_a_message_and_a_colleague_cannot_take_it_over(
    app: Flask, message: Callback, make_user: MakeUser, clock: FrozenClock
) -> None:
    wang_client, wang = agent(app, make_user)
    zhao_client, _ = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)

    assert claim(wang_client, message.id)[0] == 303
    [claimed] = stored(app, Callback)
    assert (claimed.owner_id, claimed.claimed_at) == (wang, clock.now())
    wang_desk = desk_page(wang_client)
    assert "留言已认领" in wang_desk
    assert voicemail_ids(wang_desk, "voicemail-list") == []
    assert voicemail_ids(wang_desk, "my-callback-list") == [str(message.id)]
    assert "call-now-button" in wang_desk

    assert claim(zhao_client, message.id) == (303, "/desk/")
    html = desk_page(zhao_client)
    assert problem_in(html) == "该留言已由王丽认领。 · Already claimed by 王丽."
    assert 'data-owner="王丽"' in html
    assert "claim-button" not in html
    assert stored(app, Callback)[0].owner_id == wang

    clock.advance(minutes=1)
    assert claim(wang_client, message.id)[0] == 303  # harmless a second time
    assert "您已认领该留言" in desk_page(wang_client)
    assert stored(app, Callback)[0].claimed_at == clock.now() - timedelta(minutes=1)


def test_a_message_no_longer_owed_cannot_be_claimed(
    app: Flask, message: Callback, make_user: MakeUser
) -> None:
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(status=CallbackStatus.DONE))
    client, _ = agent(app, make_user)
    assert claim(client, message.id) == (303, "/desk/")
    gone = "该留言已处理或不存在。 · That message is no longer waiting for a callback."
    assert problem_in(desk_page(client)) == gone
    assert claim(client, 9999) == (303, "/desk/")
    assert problem_in(desk_page(client)) == gone


def test_call_back_now_asks_the_callback_worker(
    app: Flask,
    message: Callback,
    make_user: MakeUser,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    dialler = types.ModuleType("ivr.outbound.schedule")
    dialler.enqueue_attempt = lambda connection, callback_id: asked.append(callback_id)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ivr.outbound.schedule", dialler)
    wang_client, _ = agent(app, make_user)
    zhao_client, _ = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    claim(wang_client, message.id)

    assert call_now(zhao_client, message.id) == (303, "/desk/")
    assert problem_in(desk_page(zhao_client)) == (
        "请先认领该回电。 · Claim this callback before calling back."
    )
    assert asked == []

    response = wang_client.post(
        f"/desk/callbacks/{message.id}/call-now",
        data={"csrf_token": page_token(wang_client, "/desk/")},
    )
    assert (response.status_code, response.location) == (303, "/desk/")
    assert asked == [message.id]
    assert "即将先拨打您的电话，再接通住户" in desk_page(wang_client)


def test_without_the_callback_worker_call_back_now_says_so(
    app: Flask, message: Callback, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ivr.outbound.schedule", None)  # import fails
    client, _ = agent(app, make_user)
    claim(client, message.id)
    assert call_now(client, message.id) == (303, "/desk/")
    assert (
        problem_in(desk_page(client))
        == "暂时无法发起回电，请稍后再试。 · Callbacks cannot be placed right now; try again."
    )


def test_supervisors_also_see_the_callbacks_nobody_could_reach(
    app: Flask, message: Callback, make_user: MakeUser
) -> None:
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(status=CallbackStatus.UNREACHABLE, attempts=3))
    agent_client, _ = agent(app, make_user)
    supervisor = make_user(
        "boss", role=StaffRole.SUPERVISOR, display_name="陈主管", phone="+8613900139009"
    )
    assert supervisor.role == StaffRole.SUPERVISOR
    boss_client = app.test_client()
    log_in(boss_client, "boss")

    assert voicemail_ids(desk_page(agent_client), "my-callback-list") == []
    boss_desk = desk_page(boss_client)
    assert voicemail_ids(boss_desk, "my-callback-list") == [str(message.id)]
    assert '<span class="callback-status">多次未接通' in boss_desk
    assert "call-now-button" in boss_desk


def test_claiming_needs_the_csrf_token(app: Flask, message: Callback, make_user: MakeUser) -> None:
    client, _ = agent(app, make_user)
    assert client.post(f"/desk/callbacks/{message.id}/claim").status_code == 400
    assert stored(app, Callback)[0].owner_id is None
