"""The agent desk: who waits (with context, most urgent first), taking a caller through
Twilio's REST API, the bridge webhooks, and every way a take can end."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import update

from ivr.app import refresh_directory
from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import Availability, Call, Callback, User
from ivr.outbound.telephony import SIMULATED_ACCOUNT_SID, RecordingHttpClient
from ivr.registry.residents import import_residents
from ivr.services import services
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.records import stored
from tests.twilio_fake import HOTLINE, TwilioFake, Verb, call_params
from tests.web_client import log_in, page_token

MakeUser = Callable[..., User]
RunJobs = Callable[[], int]

ZHANG = "+8613800138000"  # 张伟, 1栋1单元101室 (the callers' default number)
LI = "+8613800138001"  # 李娜, 2栋3单元502室
STRANGER = "+8613700137000"  # not in the registry
OTHER_STRANGER = "+8613700137001"
WANG_PHONE = "+8613900139001"
ZHAO_PHONE = "+8613900139002"
REST_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{SIMULATED_ACCOUNT_SID}/Calls"
ZH = {"voice": "Polly.Zhiyu", "language": "cmn-CN"}
CONNECTING = "正在为您转接客服人员，请稍候。"
AGENT_MISSED = "对不起，让您久等了。客服人员暂时未能接听，我们继续为您转接，请不要挂机。"
GOODBYE = "谢谢您的来电，我们会尽快答复，再见！"
WANG_BRIDGE = f"node=general_queue&lang=zh-CN&seq=3&agent={{agent}}&name=%E7%8E%8B%E4%B8%BD&to=%2B{WANG_PHONE[1:]}"


# --- helpers shared with tests/desk/test_desk_*.py -------------------------------------------------


def add_residents(app: Flask) -> None:
    csv = (
        "building,unit,room,name,phone,language\n"
        f"1,1,101,张伟,{ZHANG},zh-CN\n"
        f"2,3,502,李娜,{LI},zh-CN\n"
    )
    with app.app_context(), services().db.session() as session:
        import_residents(session, csv)
    refresh_directory(app)


def agent(
    app: Flask,
    make_user: MakeUser,
    username: str = "wangli",
    name: str = "王丽",
    phone: str = WANG_PHONE,
) -> tuple[FlaskClient, int]:
    """A signed-in agent's browser, and their user id."""
    user = make_user(username, display_name=name, phone=phone)
    client = app.test_client()
    assert log_in(client, username).status_code == 302
    return client, user.id


def waits_in_general_queue(twilio: TwilioFake, sid: str, caller: str = ZHANG) -> Walk:
    walk = Walk(twilio, sid, caller=caller).start().press("0")
    assert walk.tags == ["Say", "Enqueue"]
    return walk


def take(client: FlaskClient, call_sid: str = "") -> tuple[int, str]:
    """The answer's status and where it sends the browser."""
    fields = {"csrf_token": page_token(client, "/desk/"), "call_sid": call_sid}
    response = client.post("/desk/take", data=fields)
    return response.status_code, response.location or ""


def refused_take(client: FlaskClient, call_sid: str = "") -> str:
    """Take a caller and be refused: back to the desk, which says why (once)."""
    assert take(client, call_sid) == (303, "/desk/")
    return desk_page(client)


def desk_page(client: FlaskClient, path: str = "/desk/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status
    return response.get_data(as_text=True)


def waiting_sids(html: str) -> list[str]:
    return re.findall(r'<li class="waiting[^"]*" data-call-sid="([^"]+)"', html)


def waiting_row(html: str, sid: str) -> str:
    found = re.search(
        rf'<li class="waiting[^"]*" data-call-sid="{sid}".*?</li>\s*(?=<li class="waiting|</ol>)',
        html,
        re.S,
    )
    assert found, f"{sid} is not in the waiting list"
    return found.group(0)


def problem_in(html: str) -> str:
    """The refusal a page shows (flashed as an error by the action redirected from), if any."""
    found = re.search(r'<main id="main">\s*<p class="error" role="alert">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def notice_in(html: str) -> str:
    """What a page says went well, if anything (a flashed notice)."""
    found = re.search(r'<main id="main">\s*<p class="notice" role="status">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def bridge_path(rest: RecordingHttpClient) -> str:
    """Where the desk told Twilio to send the caller: the URL Twilio will call, less the host."""
    url = rest.requests[-1].data["Url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://hotline.example.com"
    return f"{parts.path}?{parts.query}"


def dial_action(verbs: list[Verb]) -> str:
    return next(verb.attrs["action"] for verb in verbs if verb.tag == "Dial")


def availability_of(app: Flask, user_id: int) -> Availability:
    [user] = stored(app, User, id=user_id)
    return user.availability


def the_call(app: Flask, sid: str) -> Call:
    [call] = stored(app, Call, call_sid=sid)
    return call


# --- who waits, and what the agent knows before answering ------------------------------------


def test_the_list_shows_context_and_serves_the_most_urgent_first(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    clock: FrozenClock,
    run_jobs: RunJobs,
) -> None:
    add_residents(app)
    # 张伟 called twice this month already; the older call is past the 30 days.
    for sid, days_ago in (("CA700", 40), ("CA701", 20), ("CA702", 2)):
        clock.set(clock.now() - timedelta(days=days_ago))
        Walk(twilio, sid).start().hang_up()
        clock.set(clock.now() + timedelta(days=days_ago))
    run_jobs()
    Walk(twilio, "CA710", caller=STRANGER).start().say("转人工")  # general, joins first
    clock.advance(seconds=20)
    Walk(twilio, "CA711", caller=LI).start().press("3").press("0")  # inquiry
    clock.advance(seconds=20)
    Walk(twilio, "CA712").start().press("1").press("1").press("1")  # a burst pipe: emergency
    clock.advance(seconds=20)
    complaint_waiting(app, "CA713", clock)
    run_jobs()
    clock.advance(seconds=65)
    client, _ = agent(app, make_user)

    html = desk_page(client)

    assert waiting_sids(html) == ["CA712", "CA713", "CA711", "CA710"]
    emergency = waiting_row(html, "CA712")
    assert 'data-purpose="emergency"' in emergency
    assert "张伟" in emergency
    assert "1栋1单元101室" in emergency
    assert "repair_menu：按键 “1”" in emergency
    assert 'data-ticket-number="1123001"' in emergency  # the emergency order the IVR opened
    assert '<span class="calls-30-days">2</span>' in emergency
    assert (
        '<time class="waited-time" data-since="2026-11-23T02:00:40+00:00">1:25</time>' in emergency
    )
    inquiry = waiting_row(html, "CA711")
    assert "李娜" in inquiry
    assert "2栋3单元502室" in inquiry
    assert '<span class="calls-30-days">0</span>' in inquiry
    general = waiting_row(html, "CA710")
    assert "main_menu：说 “转人工”" in general
    assert "未知来电人" in general
    assert ">2:05</time>" in general


def complaint_waiting(app: Flask, sid: str, clock: FrozenClock) -> None:
    """A caller in a complaint queue, as the call log would show one."""
    now = clock.now()
    events = [
        CallEvent(sid, EventKind.CALL_STARTED, now, detail={"from": OTHER_STRANGER, "to": HOTLINE}),
        CallEvent(
            sid,
            EventKind.HANDOFF,
            now,
            seq=1,
            node="complaint_queue",
            detail={"queue": "complaint", "category": "complaint"},
        ),
    ]
    with app.app_context(), services().db.session() as session:
        record_events(session, events)


def test_the_live_fragment_is_the_changing_part_alone(
    app: Flask, twilio: TwilioFake, make_user: MakeUser, run_jobs: RunJobs
) -> None:
    waits_in_general_queue(twilio, "CA720")
    run_jobs()
    client, _ = agent(app, make_user)

    fragment = desk_page(client, "/desk/live")

    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="board" data-now="2026-11-23T10:00:00+08:00">')
    assert waiting_sids(fragment) == ["CA720"]
    assert 'id="take-next"' in fragment
    page = desk_page(client)
    assert (
        '<div id="live" data-live-url="/desk/live" data-refresh-ms="3000" aria-live="polite">'
        in page
    )
    assert '<script src="/static/live.js" defer></script>' in page
    assert "<style" not in page
    assert " style=" not in page
    with client.get("/static/live.js") as script:
        assert script.status_code == 200


@pytest.mark.parametrize("path", ["/desk/", "/desk/live", "/desk/calls/CA1/wrap-up"])
def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert (response.status_code, response.location) == (302, f"/login?next={path}")


def test_taking_needs_a_signed_in_member_of_staff(
    app: Flask, twilio: TwilioFake, run_jobs: RunJobs, twilio_rest: RecordingHttpClient
) -> None:
    waits_in_general_queue(twilio, "CA721")
    run_jobs()
    client = app.test_client()
    token = page_token(client, "/login")  # a valid token for an anonymous session
    response = client.post("/desk/take", data={"csrf_token": token, "call_sid": "CA721"})
    assert (response.status_code, response.location) == (302, "/login?next=/desk/take")
    assert twilio_rest.requests == []


def test_taking_without_the_csrf_token_is_refused(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA722")
    run_jobs()
    client, _ = agent(app, make_user)
    response = client.post("/desk/take", data={"call_sid": "CA722"})
    assert response.status_code == 400
    assert "请重新提交" in response.get_data(as_text=True)
    assert twilio_rest.requests == []


# --- taking a caller ---------------------------------------------------------------------------


def test_taking_a_caller_redirects_the_call_and_rings_the_agent(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    redis: Redis,
) -> None:
    waits_in_general_queue(twilio, "CA730")
    run_jobs()
    client, wang = agent(app, make_user)

    status, _ = take(client, "CA730")

    assert status == 303
    [redirect] = twilio_rest.requests
    assert (redirect.method, redirect.url) == ("POST", f"{REST_CALLS}/CA730.json")
    query = WANG_BRIDGE.format(agent=wang)
    assert redirect.data == {
        "Url": f"https://hotline.example.com/voice/desk/bridge?{query}",
        "Method": "POST",
    }
    assert availability_of(app, wang) == Availability.BUSY
    assert redis.get("desk:take:CA730:1") == f"{wang}:王丽".encode()
    assert "您的电话正在响铃" not in desk_page(client)  # nothing logged yet: connecting

    verbs = twilio.follow(bridge_path(twilio_rest), "CA730")

    assert [(v.tag, v.attrs, v.text) for v in verbs] == [
        ("Say", ZH, CONNECTING),
        (
            "Dial",
            {
                "action": f"/voice/desk/bridged?{query.replace('seq=3', 'seq=4')}",
                "method": "POST",
                "timeout": "20",
                "callerId": HOTLINE,
            },
            WANG_PHONE,
        ),
    ]
    run_jobs()
    call = the_call(app, "CA730")
    assert (call.outcome, call.handler, call.agent_id) == ("agent_served", "王丽", wang)
    html = desk_page(client)
    assert waiting_sids(html) == []
    assert 'id="my-take"' in html
    assert 'data-state="ringing"' in html

    goodbye = twilio.follow(
        dial_action(verbs), "CA730", DialCallStatus="completed", DialCallDuration="95"
    )

    assert [(v.tag, v.text) for v in goodbye] == [("Say", GOODBYE), ("Hangup", "")]
    twilio.post("/voice/status", call_params("CA730", CallStatus="completed", CallDuration="180"))
    run_jobs()
    _, logged = api_get(app, "/api/calls/CA730")
    assert (logged["outcome"], logged["handler"], logged["status"]) == (
        "agent_served",
        "王丽",
        "completed",
    )
    assert "desk: put through to 王丽" in logged["content"]
    assert "desk: answered by 王丽" in logged["content"]
    html = desk_page(client)
    assert 'data-state="answered"' in html
    assert '<tr data-call-sid="CA730">' in html  # my recent calls, to wrap up
    assert availability_of(app, wang) == Availability.BUSY  # until the wrap-up


def test_take_next_takes_the_most_urgent_caller(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    clock: FrozenClock,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA731", caller=STRANGER)
    clock.advance(seconds=30)
    Walk(twilio, "CA732").start().press("1").press("1").press("1")
    run_jobs()
    client, _ = agent(app, make_user)

    assert take(client)[0] == 303
    assert twilio_rest.requests[-1].url == f"{REST_CALLS}/CA732.json"
    assert "node=emergency_queue" in twilio_rest.requests[-1].data["Url"]

    second, _ = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    assert take(second)[0] == 303  # the emergency caller is taken: the next one
    assert twilio_rest.requests[-1].url == f"{REST_CALLS}/CA731.json"
    html = refused_take(second)
    assert problem_in(html) == "现在没有等待的来电。 · Nobody is waiting right now."
    assert problem_in(desk_page(second)) == ""  # said once: a reload does not repeat it


def test_a_second_agent_cannot_take_the_same_caller(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA733")
    run_jobs()
    wang_client, wang = agent(app, make_user)
    zhao_client, zhao = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    assert take(wang_client, "CA733")[0] == 303

    html = refused_take(zhao_client, "CA733")

    assert problem_in(html) == "该来电已由王丽接起。 · Already taken by 王丽."
    assert len(twilio_rest.requests) == 1
    assert availability_of(app, zhao) == Availability.AWAY
    row = waiting_row(html, "CA733")
    assert 'data-taken-by="王丽"' in row
    assert "take-button" not in row
    # A double click by the agent who took it rings nobody twice.
    assert (take(wang_client, "CA733"), len(twilio_rest.requests)) == ((303, "/desk/"), 1)
    html = desk_page(wang_client)
    assert (
        notice_in(html) == "您已接起该来电，请接听电话。 · You took this call: answer your phone."
    )
    assert problem_in(html) == ""
    assert availability_of(app, wang) == Availability.BUSY


def test_an_agent_who_does_not_answer_sends_the_caller_back_to_the_queue(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA740")
    run_jobs()
    wang_client, wang = agent(app, make_user)
    take(wang_client, "CA740")
    verbs = twilio.follow(bridge_path(twilio_rest), "CA740")

    back = twilio.follow(dial_action(verbs), "CA740", DialCallStatus="no-answer")

    state = "node=general_queue&lang=zh-CN&seq=5&ni=0&nm=0"
    assert [(v.tag, v.attrs, v.text) for v in back] == [
        ("Say", ZH, AGENT_MISSED),
        (
            "Enqueue",
            {
                "action": f"/voice/queue/result?{state}",
                "method": "POST",
                "waitUrl": f"/voice/queue/wait?{state}",
                "waitUrlMethod": "POST",
            },
            "general",
        ),
    ]
    run_jobs()
    call = the_call(app, "CA740")
    assert (call.outcome, call.handler, call.agent_id, call.queue) == (
        "transferred",
        None,
        None,
        "general",
    )
    assert "desk: 王丽 did not answer (no-answer)" in call.content
    wang_desk = desk_page(wang_client)
    assert waiting_sids(wang_desk) == ["CA740"]
    assert 'data-state="missed"' in wang_desk
    assert availability_of(app, wang) == Availability.AWAY

    # Back in the queue, the caller can be taken again, by anyone.
    zhao_client, zhao = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    assert take(zhao_client, "CA740")[0] == 303
    assert "seq=6" in twilio_rest.requests[-1].data["Url"]
    answered = twilio.follow(bridge_path(twilio_rest), "CA740")
    twilio.follow(dial_action(answered), "CA740", DialCallStatus="completed")
    run_jobs()
    call = the_call(app, "CA740")
    assert (call.outcome, call.handler, call.agent_id) == ("agent_served", "赵强", zhao)


def test_a_caller_who_hangs_up_while_the_agent_is_rung_is_called_back(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA741")
    run_jobs()
    client, wang = agent(app, make_user)
    take(client, "CA741")
    verbs = twilio.follow(bridge_path(twilio_rest), "CA741")

    # Twilio reports the dial with the caller's own status: they have gone.
    gone = twilio.follow(
        dial_action(verbs), "CA741", DialCallStatus="canceled", CallStatus="completed"
    )
    twilio.post("/voice/status", call_params("CA741", CallStatus="completed", CallDuration="40"))

    assert [v.tag for v in gone] == ["Hangup"]
    run_jobs()
    call = the_call(app, "CA741")
    assert (call.outcome, call.status, call.handler) == ("abandoned", "completed", None)
    assert [(cb.phone, cb.reason) for cb in stored(app, Callback)] == [
        (ZHANG, "abandoned in the queue at general")
    ]
    html = desk_page(client)
    assert waiting_sids(html) == []
    assert 'data-state="caller_gone"' in html
    assert availability_of(app, wang) == Availability.AVAILABLE


def test_a_caller_who_hangs_up_before_the_bridge_is_not_left_waiting(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA742")
    run_jobs()
    client, wang = agent(app, make_user)
    take(client, "CA742")

    # Twilio ends the queue wait (the redirect) and then the call; the bridge never runs.
    twilio.follow(
        "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0",
        "CA742",
        QueueResult="hangup",
    )
    twilio.post("/voice/status", call_params("CA742", CallStatus="completed", CallDuration="30"))
    run_jobs()

    assert the_call(app, "CA742").outcome == "abandoned"
    html = desk_page(client)
    assert waiting_sids(html) == []
    assert 'data-state="caller_gone"' in html
    assert availability_of(app, wang) == Availability.AVAILABLE
    assert [cb.reason for cb in stored(app, Callback)] == ["abandoned in the queue at general"]


def test_when_twilio_refuses_the_redirect_the_caller_stays_in_the_queue(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    redis: Redis,
) -> None:
    waits_in_general_queue(twilio, "CA750")
    run_jobs()
    client, wang = agent(app, make_user)
    twilio_rest.fail_next(400, 21220, "Call is not in-progress. Cannot redirect.")

    html = refused_take(client, "CA750")

    twilio_says = "Twilio error 21220 (HTTP 400): Unable to update record: Call is not in-progress. Cannot redirect."
    assert problem_in(html) == (
        f"转接失败，来电仍在队列中：{twilio_says}"
        f" · The call could not be put through; the caller is still waiting: {twilio_says}"
    )
    assert redis.get("desk:take:CA750:1") is None
    assert availability_of(app, wang) == Availability.AWAY  # as it was before
    assert 'id="my-take"' not in html
    assert "take-button" in waiting_row(html, "CA750")
    # Anyone may try again at once.
    zhao_client, _ = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    assert take(zhao_client, "CA750")[0] == 303


def test_when_twilio_may_have_redirected_the_agent_is_told_to_watch_the_phone(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    redis: Redis,
) -> None:
    waits_in_general_queue(twilio, "CA753")
    run_jobs()
    client, wang = agent(app, make_user)
    twilio_rest.raise_next(requests.ReadTimeout("read timed out"))

    html = refused_take(client, "CA753")

    assert problem_in(html).startswith(
        "Twilio 未确认转接；如您的电话响起请接听：no answer from Twilio"
    )
    assert availability_of(app, wang) == Availability.BUSY
    assert 0 < redis.ttl("desk:take:CA753:1") <= 60  # held briefly, then free for anyone
    assert 'data-state="connecting"' in html


def test_an_agent_without_a_phone_is_told_so(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    redis: Redis,
) -> None:
    waits_in_general_queue(twilio, "CA751")
    run_jobs()
    client, wang = agent(app, make_user)
    with app.app_context(), services().db.session() as session:
        session.execute(update(User).where(User.id == wang).values(phone=""))

    html = refused_take(client, "CA751")

    assert "您的账号没有登记电话号码" in problem_in(html)
    assert twilio_rest.requests == []
    assert redis.get("desk:take:CA751:1") is None


def test_without_redis_the_desk_says_calls_cannot_be_taken(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits_in_general_queue(twilio, "CA754")
    run_jobs()
    client, _ = agent(app, make_user)

    def redis_is_down(*_: object) -> None:
        raise RedisError("Connection refused")

    monkeypatch.setattr(sys.modules["ivr.desk.views"], "take_caller", redis_is_down)
    html = refused_take(client, "CA754")
    assert problem_in(html) == (
        "暂时无法接听来电，请稍后再试。 · Calls cannot be taken right now; try again shortly."
    )
    assert twilio_rest.requests == []


def test_a_caller_who_left_the_queue_cannot_be_taken(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    waits_in_general_queue(twilio, "CA752")
    twilio.post("/voice/status", call_params("CA752", CallStatus="completed", CallDuration="30"))
    run_jobs()
    client, _ = agent(app, make_user)
    html = refused_take(client, "CA752")
    assert problem_in(html) == "该来电已不在等待队列中。 · That caller is no longer waiting."
    assert twilio_rest.requests == []


@pytest.mark.parametrize(
    "query",
    [
        "node=main_menu&lang=zh-CN&seq=3&agent=1&name=x&to=%2B8613900139001",  # not a queue
        "node=general_queue&lang=zh-CN&seq=3&agent=1&name=x&to=12345",  # not a phone number
        "node=general_queue&lang=zh-CN&seq=x&agent=1&name=x&to=%2B8613900139001",
    ],
)
def test_a_bridge_url_that_is_not_ours_still_answers_politely(
    twilio: TwilioFake, query: str
) -> None:
    verbs = twilio.follow(f"/voice/desk/bridge?{query}", "CA760")
    assert [v.tag for v in verbs] == ["Say", "Record", "Say", "Hangup"]  # the apology, a message


def test_bridge_webhooks_need_twilios_signature(twilio: TwilioFake) -> None:
    path = (
        "/voice/desk/bridge?node=general_queue&lang=zh-CN&seq=3&agent=1&name=x&to=%2B8613900139001"
    )
    assert twilio.post(path, call_params("CA761"), signature="forged").status_code == 403
