"""Calling residents back (R7, R8, R10): the sweep picks due callbacks in office hours, those
keeping their place first; the agent is rung first and bridged to the resident, who hears
why we call; three unanswered tries, 15 minutes apart, make a callback unreachable. A
replayed job or a worker that died mid-attempt never rings anyone twice for the same try."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import update

from ivr.callbacks.dispatch import claim_attempt
from ivr.models import (
    AttemptStatus,
    Availability,
    Call,
    Callback,
    CallbackStatus,
    User,
)
from ivr.outbound.schedule import enqueue_attempt
from ivr.queues import outbound_queue
from ivr.services import services
from tests.api_client import api_get
from tests.call_walk import Walk
from tests.conftest import BASE_URL, SHANGHAI
from tests.outbound_calls import (
    EN,
    GOODBYE,
    HOTLINE,
    PROGRESS,
    RESIDENT,
    RESIDENT_LEG,
    Office,
    gather,
    hang_up,
    outbound,
    path_on,
    say,
)
from tests.records import stored
from tests.twilio_fake import TwilioFake, Verb, call_params

AGENT_1, AGENT_2, AGENT_3 = "+8613900139001", "+8613900139002", "+8613900139003"
RETRY = "住户没有接听，系统会在15分钟后再次回电，再见。"
UNREACHABLE = "住户没有接听，已经3次未能联系上，已标记为无法联系，请主管跟进，再见。"


def local(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def leg_query(
    cb: int,
    at: int,
    *,
    prior: int = 0,
    src: str = "asked",
    topic: str = "general",
    agent: int = 1,
    lang: str = "zh-CN",
) -> str:
    return (
        f"cb={cb}&at={at}&k=resident&to=%2B8613800138000&lang={lang}&prior={prior}"
        f"&src={src}&topic={topic}&ag={agent}&an=agent{agent}"
    )


@pytest.fixture
def agents(app: Flask, make_user: Callable[..., User]) -> list[User]:
    """Two agents at the desk, both available."""
    staff = [make_user("agent1", phone=AGENT_1), make_user("agent2", phone=AGENT_2)]
    set_availability(app, Availability.AVAILABLE, *staff)
    return staff


def set_availability(app: Flask, availability: Availability, *staff: User) -> None:
    with app.app_context(), services().db.session() as session:
        ids = [user.id for user in staff]
        session.execute(update(User).where(User.id.in_(ids)).values(availability=availability))


def availability(app: Flask) -> dict[str, str]:
    return {user.username: user.availability.value for user in stored(app, User)}


def owe(
    office: Office,
    key: str,
    *,
    phone: str = RESIDENT,
    queue: str = "repair",
    important: bool = False,
    keeps_place: bool = False,
    locale: str = "zh-CN",
    due_in: timedelta = timedelta(hours=24),
    next_attempt_at: datetime | None = None,
) -> int:
    """A callback task as ivr.intake.follow_up stores them; returns its id."""
    now = office.clock.now()
    with office.app.app_context(), services().db.session() as session:
        callback = Callback(
            dedupe_key=key,
            phone=phone,
            reason=f"{key} ({queue})",
            important=important,
            keeps_place=keeps_place,
            queue=queue,
            locale=locale,
            due_at=now + due_in,
            next_attempt_at=next_attempt_at,
            status=CallbackStatus.PENDING,
            created_at=now,
        )
        session.add(callback)
        session.flush()
        return callback.id


def the_callback(app: Flask, callback_id: int) -> Callback:
    [callback] = stored(app, Callback, id=callback_id)
    return callback


def virtual_hold(office: Office, sid: str = "CA900") -> None:
    """Waits 2½ minutes in the general queue, then presses 1 to be called back."""
    twilio = office.twilio
    Walk(twilio, sid).start().press("0")
    office.clock.advance(seconds=150)
    choice = "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0"
    twilio.follow(choice, sid, Digits="1", QueueTime="150", QueuePosition="3")
    result = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    twilio.follow(result, sid, QueueResult="hangup", QueueTime="152")
    twilio.post("/voice/status", call_params(sid, CallStatus="completed", CallDuration="160"))


def agent_gather(query: str, no_input: int, prompts: list[Verb]) -> list[Verb]:
    return gather(f"/voice/callback/accept?{query}&ni={no_input}&nm=0", prompts)


def bridge(query: str) -> list[Verb]:
    dial = Verb(
        "Dial",
        {
            "action": f"/voice/callback/dialed?{query}",
            "callerId": HOTLINE,
            "method": "POST",
            "timeout": "30",
        },
        children=[
            Verb("Number", {"method": "POST", "url": f"/voice/callback/greet?{query}"}, RESIDENT)
        ],
    )
    return [say("正在为您接通住户，请稍候。"), dial]


# --- who is called, when ----------------------------------------------------------------


def test_a_caller_on_virtual_hold_is_called_back_agent_first(
    office: Office, agents: list[User]
) -> None:
    virtual_hold(office)
    office.run_jobs()
    [callback] = stored(office.app, Callback)
    assert (callback.keeps_place, callback.queue, callback.locale, callback.phone) == (
        True,
        "general",
        "zh-CN",
        RESIDENT,
    )
    office.sweep()
    query = leg_query(callback.id, 1)
    assert office.placed() == [
        {
            "To": AGENT_1,
            "From": HOTLINE,
            "Url": f"{BASE_URL}/voice/callback/agent?{query}",
            "Method": "POST",
            "StatusCallback": f"{BASE_URL}/voice/callback/status?{query}",
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": PROGRESS,
        }
    ]
    [attempt] = office.attempts(callback.id)
    assert (attempt.number, attempt.idempotency_key, attempt.status, attempt.agent_id) == (
        1,
        f"callback:{callback.id}:attempt:1",
        AttemptStatus.DIALING_AGENT,
        agents[0].id,
    )
    assert re.fullmatch(r"CA[0-9a-f]{32}", attempt.call_sid or "")
    assert availability(office.app) == {"agent1": "busy", "agent2": "available"}
    office.sweep()  # a minute later: the attempt is in flight, nobody else is rung
    assert len(office.placed()) == 1


def test_the_agent_hears_why_and_the_resident_hears_why_before_the_bridge(
    office: Office, agents: list[User]
) -> None:
    virtual_hold(office)
    office.run_jobs()
    office.sweep()
    call = office.last_call()
    query = leg_query(1, 1)
    assert call.answer() == agent_gather(
        query,
        0,
        [
            say("您好，这是一通回电：尾号8000的住户来电反映需要办理的事项，排队时选择了回电。"),
            say("接通住户请按1。"),
        ],
    )
    assert call.press("1") == bridge(query)
    assert call.resident_answers() == [
        say(
            "您好，这里是幸福家园物业客服中心。对不起，让您久等了。"
            "您之前来电反映需要办理的事项并选择了回电，现在为您接通客服人员。"
        )
    ]
    office.clock.advance(minutes=2)
    assert call.dialed("completed") == [say("通话已结束，谢谢，再见。"), hang_up()]
    call.ends("completed", duration="130")
    office.run_jobs()

    callback = the_callback(office.app, 1)
    assert (callback.status, callback.attempts, callback.completed_at, callback.outcome) == (
        CallbackStatus.DONE,
        1,
        office.clock.now(),
        "agent agent1 talked with the resident",
    )
    assert callback.owner_id == agents[0].id
    [attempt] = office.attempts(1)
    assert (attempt.status, attempt.resident_call_sid, attempt.ended_at) == (
        AttemptStatus.CONNECTED,
        RESIDENT_LEG,
        office.clock.now(),
    )
    assert availability(office.app) == {"agent1": "available", "agent2": "available"}
    [logged] = stored(office.app, Call, call_sid=call.sid)
    assert (
        logged.direction,
        logged.caller_number,
        logged.agent_id,
        logged.outcome,
        logged.handler,
        logged.status,
        logged.duration_s,
    ) == ("outbound", RESIDENT, agents[0].id, "agent_served", "agent1", "completed", 130)


def test_a_message_in_english_is_returned_in_english(office: Office, agents: list[User]) -> None:
    owe(office, "message:CA1:4:general_message", queue="inquiry", locale="en-US")
    office.sweep()
    call = office.last_call()
    query = leg_query(1, 1, src="message", topic="inquiry", lang="en-US")
    assert call.answer() == agent_gather(
        query,
        0,
        [say("您好，这是一通回电：尾号8000的住户留言反映咨询的事项。"), say("接通住户请按1。")],
    )
    call.press("1")
    assert call.resident_answers() == [
        say(
            "Hello, this is the Happy Home Property customer service centre, calling you back "
            "about the message you left about an enquiry; we are putting you through to an "
            "officer now.",
            EN,
        )
    ]


def test_a_callback_not_due_yet_waits(office: Office, agents: list[User]) -> None:
    owe(office, "abandoned:x", next_attempt_at=office.clock.now() + timedelta(minutes=30))
    office.sweep()
    office.clock.advance(minutes=29)
    office.sweep()
    assert office.placed() == []
    office.clock.advance(minutes=1)
    office.sweep()
    assert office.rung() == [AGENT_1]


def test_out_of_hours_a_callback_waits_for_the_office_to_open(
    office: Office, agents: list[User]
) -> None:
    office.clock.set(local(22, 40))
    owe(office, "message:CA2:3:after_hours_message")
    office.sweep()
    office.clock.set(local(6, 59, day=24))
    office.sweep()
    assert office.placed() == []
    office.clock.set(local(7, 0, day=24))
    office.sweep()
    assert office.rung() == [AGENT_1]


def test_place_keepers_first_then_important_then_by_promised_time(
    office: Office, agents: list[User], make_user: Callable[..., User]
) -> None:
    set_availability(office.app, Availability.AVAILABLE, make_user("agent3", phone=AGENT_3))
    late = owe(office, "abandoned:late", due_in=timedelta(hours=20))
    soon = owe(office, "abandoned:soon", due_in=timedelta(hours=2))
    important = owe(office, "message:important", important=True, due_in=timedelta(hours=5))
    holding = owe(office, "virtual-hold:CA3", keeps_place=True, due_in=timedelta(hours=0))
    office.sweep()
    rung = [
        (call["To"], parse_qs(urlsplit(call["Url"]).query)["cb"][0]) for call in office.placed()
    ]
    assert rung == [(AGENT_1, str(holding)), (AGENT_2, str(important)), (AGENT_3, str(soon))]
    assert office.attempts(late) == []  # three agents, three callbacks: the fourth waits


def test_with_nobody_free_a_callback_waits_and_keeps_its_turn(
    office: Office, agents: list[User]
) -> None:
    set_availability(office.app, Availability.AWAY, agents[0])
    set_availability(office.app, Availability.BUSY, agents[1])
    callback_id = owe(office, "virtual-hold:CA4", keeps_place=True)
    office.sweep()
    assert office.placed() == []
    assert (the_callback(office.app, callback_id).status, office.attempts(callback_id)) == (
        CallbackStatus.PENDING,
        [],
    )
    set_availability(office.app, Availability.AVAILABLE, agents[1])
    office.clock.advance(minutes=1)
    office.sweep()
    assert office.rung() == [AGENT_2]


def test_the_owner_takes_their_own_callback(office: Office, agents: list[User]) -> None:
    callback_id = owe(office, "abandoned:owned")
    with office.app.app_context(), services().db.session() as session:
        session.execute(
            update(Callback).where(Callback.id == callback_id).values(owner_id=agents[1].id)
        )
    office.sweep()
    assert office.rung() == [AGENT_2]


# --- when nobody answers ------------------------------------------------------------------


def test_an_agent_who_does_not_answer_is_set_away_and_another_agent_calls(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA5")
    office.sweep()
    office.last_call().ends("no-answer", duration="0")
    office.run_jobs()
    [first] = office.attempts(callback_id)
    assert (first.status, first.outcome) == (
        AttemptStatus.AGENT_NO_ANSWER,
        "agent agent1 did not answer (no-answer)",
    )
    callback = the_callback(office.app, callback_id)
    assert (callback.status, callback.attempts, callback.next_attempt_at) == (
        CallbackStatus.PENDING,
        0,  # the resident was never rung: all three tries are still theirs
        office.clock.now(),
    )
    assert availability(office.app) == {"agent1": "away", "agent2": "available"}
    office.clock.advance(minutes=1)
    office.sweep()
    assert office.rung() == [AGENT_1, AGENT_2]
    _, body = api_get(office.app, f"/api/callbacks/{callback_id}")
    assert [(a["number"], a["status"], a["agent"]["username"]) for a in body["attempt_log"]] == [
        (1, "agent_no_answer", "agent1"),
        (2, "dialing_agent", "agent2"),
    ]


def test_an_agent_who_does_not_press_1_hands_the_callback_on(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA6", queue="complaint")
    office.sweep()
    call = office.last_call()
    call.answer()
    query = leg_query(callback_id, 1, src="missed", topic="complaint")
    assert call.press() == [
        say("对不起，没有听到您的选择。"),
        *agent_gather(query, 1, [say("接通住户请按1。")]),
    ]
    assert call.press("5") == [say("好的，这通回电会稍后交给其他客服人员，再见。"), hang_up()]
    call.ends("completed", duration="20")
    office.run_jobs()
    [attempt] = office.attempts(callback_id)
    assert (attempt.status, attempt.outcome) == (
        AttemptStatus.AGENT_NO_ANSWER,
        "agent agent1 did not accept the callback",
    )
    assert (the_callback(office.app, callback_id).attempts, availability(office.app)["agent1"]) == (
        0,
        "away",
    )


def test_three_unanswered_tries_15_minutes_apart_make_it_unreachable(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA7")
    office.sweep()
    for attempt in (1, 2, 3):
        call = office.last_call()
        call.accepted()
        closing = UNREACHABLE if attempt == 3 else RETRY
        assert call.dialed("no-answer", duration="0") == [say(closing), hang_up()]
        call.ends("completed", duration="40")
        office.run_jobs()
        callback = the_callback(office.app, callback_id)
        assert callback.attempts == attempt
        if attempt < 3:
            assert callback.next_attempt_at == office.clock.now() + timedelta(minutes=15)
            office.clock.advance(minutes=14)
            office.sweep()
            assert len(office.placed()) == attempt  # not yet
            office.clock.advance(minutes=1)
            office.sweep()
            assert len(office.placed()) == attempt + 1
    callback = the_callback(office.app, callback_id)
    assert (callback.status, callback.completed_at, callback.next_attempt_at) == (
        CallbackStatus.UNREACHABLE,
        office.clock.now(),
        None,
    )
    assert callback.outcome == "resident: no-answer; unreachable"
    office.clock.advance(hours=1)
    office.sweep()
    assert len(office.placed()) == 3
    # Supervisors see it on the list, with every try.
    _, body = api_get(office.app, "/api/callbacks?status=unreachable")
    [shown] = body["callbacks"]
    assert (shown["attempts"], shown["next_attempt_at"], shown["completed_at"]) == (
        3,
        None,
        "2026-11-23T02:30:00+00:00",
    )
    assert [(a["number"], a["status"], a["started_at"]) for a in shown["attempt_log"]] == [
        (1, "resident_no_answer", "2026-11-23T02:00:00+00:00"),
        (2, "resident_no_answer", "2026-11-23T02:15:00+00:00"),
        (3, "resident_no_answer", "2026-11-23T02:30:00+00:00"),
    ]


def test_an_agent_who_hangs_up_while_the_resident_rings_frees_the_try(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA18")
    office.sweep()
    call = office.last_call()
    call.accepted()
    call.ends("completed", duration="25")  # no <Dial> result reached us
    office.run_jobs()
    [attempt] = office.attempts(callback_id)
    assert (attempt.status, attempt.outcome) == (
        AttemptStatus.RESIDENT_NO_ANSWER,
        "resident: not reached before the agent's call ended",
    )
    assert (the_callback(office.app, callback_id).attempts, availability(office.app)["agent1"]) == (
        1,
        "available",
    )


def test_a_retry_that_falls_after_closing_waits_for_the_morning(
    office: Office, agents: list[User]
) -> None:
    office.clock.set(local(20, 50))
    callback_id = owe(office, "abandoned:CA8")
    office.sweep()
    call = office.last_call()
    call.accepted()
    call.dialed("busy", duration="0")
    office.run_jobs()
    callback = the_callback(office.app, callback_id)
    assert (callback.next_attempt_at, callback.outcome) == (
        local(7, 0, day=24),
        "resident: busy; next try 11-24 07:00",
    )


def test_a_caller_who_withheld_their_number_is_unreachable_at_once(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "message:CA17:3:take_message", phone="anonymous")
    office.sweep()
    callback = the_callback(office.app, callback_id)
    assert (callback.status, callback.outcome, callback.completed_at) == (
        CallbackStatus.UNREACHABLE,
        "no number to call back",
        office.clock.now(),
    )
    assert (office.placed(), office.attempts(callback_id)) == ([], [])
    assert availability(office.app) == {"agent1": "available", "agent2": "available"}


def test_twilio_refusing_the_call_uses_up_a_try(office: Office, agents: list[User]) -> None:
    callback_id = owe(office, "abandoned:CA9")
    office.rest.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    office.sweep()
    [attempt] = office.attempts(callback_id)
    assert (attempt.status, attempt.call_sid) == (AttemptStatus.FAILED, None)
    callback = the_callback(office.app, callback_id)
    assert (callback.attempts, callback.next_attempt_at) == (
        1,
        office.clock.now() + timedelta(minutes=15),
    )
    assert availability(office.app)["agent1"] == "available"


# --- never twice for the same try ----------------------------------------------------------


def test_call_back_now_twice_rings_once_even_out_of_hours(
    office: Office, agents: list[User]
) -> None:
    office.clock.set(local(21, 30))  # closed, but a person asked
    callback_id = owe(office, "abandoned:CA10")
    enqueue_attempt(office.redis, callback_id)
    enqueue_attempt(office.redis, callback_id)  # a double click
    assert outbound_queue(office.redis).count == 1
    office.run_jobs()
    enqueue_attempt(office.redis, callback_id)  # clicked again while the agent's phone rings
    office.run_jobs()
    assert office.rung() == [AGENT_1]
    assert [a.number for a in office.attempts(callback_id)] == [1]


def test_a_worker_killed_after_the_claim_never_places_that_try(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA11")
    with office.app.app_context(), services().db.session() as session:
        claimed = claim_attempt(
            session, callback_id, office.clock.now(), services().settings, on_request=False
        )
    assert claimed is not None  # committed; then the worker died before asking Twilio
    enqueue_attempt(office.redis, callback_id)  # the job replayed, and the sweep a minute later
    office.run_jobs()
    office.clock.advance(minutes=1)
    office.sweep()
    assert office.placed() == []
    office.clock.advance(minutes=4)  # five minutes on: it will never be placed
    office.sweep()
    [attempt] = office.attempts(callback_id)
    assert (attempt.status, attempt.outcome) == (
        AttemptStatus.UNKNOWN,
        "unknown: the worker stopped before placing it",
    )
    callback = the_callback(office.app, callback_id)
    assert (callback.attempts, callback.next_attempt_at) == (
        1,
        office.clock.now() + timedelta(minutes=15),
    )
    assert office.placed() == []
    assert availability(office.app)["agent1"] == "available"
    office.clock.advance(minutes=15)
    office.sweep()
    [request] = office.placed()
    assert parse_qs(urlsplit(request["Url"]).query)["at"] == [
        str(office.attempts(callback_id)[1].id)
    ]
    assert [a.idempotency_key for a in office.attempts(callback_id)] == [
        f"callback:{callback_id}:attempt:1",
        f"callback:{callback_id}:attempt:2",
    ]


def test_a_worker_killed_after_ringing_is_never_replayed(
    office: Office, agents: list[User]
) -> None:
    callback_id = owe(office, "abandoned:CA12")
    with office.app.app_context():
        found = services()
        with found.db.session() as session:
            planned = claim_attempt(
                session, callback_id, office.clock.now(), found.settings, on_request=False
            )
        assert planned is not None
        sid = found.telephony.place_call(planned.to, planned.url, planned.status_callback)
    # The worker died before storing the CallSid; the job is replayed.
    enqueue_attempt(office.redis, callback_id)
    office.run_jobs()
    assert len(office.placed()) == 1
    # Twilio's first status callback tells us the CallSid.
    status = path_on(office.twilio, planned.status_callback)
    office.twilio.post(status, outbound(sid, AGENT_1, CallStatus="initiated", SequenceNumber="0"))
    office.run_jobs()
    office.clock.advance(minutes=10)
    office.sweep()
    [attempt] = office.attempts(callback_id)
    assert (attempt.call_sid, attempt.status, attempt.ended_at) == (
        sid,
        AttemptStatus.DIALING_AGENT,
        None,
    )
    assert len(office.placed()) == 1


# --- the webhooks' edges ----------------------------------------------------------------------

ROUTES = [
    "/voice/callback/agent",
    "/voice/callback/accept",
    "/voice/callback/greet",
    "/voice/callback/dialed",
    "/voice/callback/status",
    "/voice/callback/survey",
    "/voice/callback/survey/answer",
]


@pytest.mark.parametrize("route", ROUTES)
def test_a_forged_request_is_refused(twilio: TwilioFake, route: str) -> None:
    url = f"{route}?{leg_query(1, 1)}"
    response = twilio.post(url, outbound("CA13", AGENT_1), signature="forged")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "",
        "cb=1&at=1",
        "cb=1&at=x&k=resident&to=%2B8613800138000",
        leg_query(1, 1).replace("src=asked", "src=odd"),
    ],
)
@pytest.mark.parametrize(
    "route", ["/voice/callback/agent", "/voice/callback/accept", "/voice/callback/dialed"]
)
def test_a_url_we_did_not_write_ends_politely(twilio: TwilioFake, route: str, query: str) -> None:
    url = f"{route}?{query}" if query else route
    assert twilio.twiml(url, outbound("CA14", AGENT_1)) == [say(GOODBYE), hang_up()]


def test_a_whisper_we_did_not_write_still_bridges_without_a_greeting(twilio: TwilioFake) -> None:
    url = f"/voice/callback/greet?{leg_query(1, 1).replace('src=asked', 'src=odd')}"
    assert twilio.twiml(url, outbound("CA16", RESIDENT)) == []


def test_a_status_we_cannot_place_is_still_200(twilio: TwilioFake) -> None:
    response = twilio.post("/voice/callback/status", outbound("CA15", AGENT_1, CallStatus="busy"))
    assert response.status_code == 200


def test_callers_waiting_now_come_before_callbacks_except_place_keepers_ahead_of_them(
    office: Office, agents: list[User]
) -> None:
    holding = owe(office, "virtual-hold:CA951", keeps_place=True, due_in=timedelta(0))
    message = owe(office, "message:CA952", important=True)
    office.clock.advance(minutes=1)
    Walk(office.twilio, "CA953", caller="+8613900139000").start().press("0")  # joins the queue now
    office.clock.advance(minutes=1)
    later = owe(office, "virtual-hold:CA954", keeps_place=True, due_in=timedelta(0))
    office.run_jobs()

    office.sweep()

    # Two free agents: the place keeper who asked before the live caller arrived goes first;
    # the live caller needs the other agent, so the later place keeper and the message wait.
    rung = [parse_qs(urlsplit(call["Url"]).query)["cb"][0] for call in office.placed()]
    assert rung == [str(holding)]
    assert office.attempts(message) == office.attempts(later) == []
