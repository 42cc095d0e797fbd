"""`ivr call`'s engine: whole calls through the real app and its workers, and Twilio's rules."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.app import refresh_directory
from ivr.core.clock import FrozenClock
from ivr.flows.engine import QUEUE_HOLD_PAUSE_S, FlowEngine
from ivr.models import Callback, OutboundMessage, Ticket
from ivr.registry.residents import load_demo_estate
from ivr.sim.caller import (
    GATHER_HINT,
    GatherReply,
    KeyboardCaller,
    ScriptedCaller,
    read_gather_reply,
    speaking_seconds,
)
from ivr.sim.phone import MAX_REQUESTS_PER_CALL, PhoneCall
from ivr.sim.terminal import call_from_terminal
from ivr.sim.transcript import Transcript, espeak_voice, find_espeak
from ivr.sim.transport import (
    FlaskTransport,
    HotlineAnswer,
    HotlineError,
    HotlineRefusedError,
    HotlineUnreachableError,
    HttpTransport,
)
from ivr.voice.twiml import SignatureChecker
from tests.conftest import AUTH_TOKEN, BASE_URL, SHANGHAI, services_of
from tests.processes import free_port

CALLER = "+8613800138000"  # in the demo estate, but the registry is empty unless a test loads it
ENGINEER, DEPUTY = "+8613900000001", "+8613900000002"  # the on-call ladder
APOLOGY = "hotline: 对不起，给您添麻烦了，我们代表物业公司向您致歉。"  # R6: before anything else
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
RECORDING_URL = re.compile(
    r"^https://api\.twilio\.com/2010-04-01/Accounts/AC0{32}/Recordings/RE[0-9a-f]{32}$"
)
TWILIO_PARAMS = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "Direction",
    "From",
    "To",
}

Phone = Callable[[str], PhoneCall]
CallLog = Callable[[str], dict[str, Any]]
Heard = Callable[..., str]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The hotline with an on-call ladder, so emergencies are put through; jobs run in it too."""
    return make_app(oncall_ladder=(ENGINEER, DEPUTY))


def place_call(
    app: Flask, script: str, url: str = BASE_URL, public_url: str | None = None
) -> PhoneCall:
    call = PhoneCall(
        url,
        CALLER,
        FlaskTransport(app.test_client()),
        SignatureChecker(AUTH_TOKEN),
        ScriptedCaller.from_text(script),
        Transcript(),
        public_url=public_url,
    )
    call.run()
    return call


@pytest.fixture
def phone(app: Flask) -> Phone:
    """Calls the real hotline app with a script of answers, as `ivr call --press` does."""
    return lambda script: place_call(app, script)


@pytest.fixture
def call_log(app: Flask, run_jobs: Callable[[], int], api_headers: dict[str, str]) -> CallLog:
    """Runs the workers, then reads the call's register entry through the API."""

    def read(call_sid: str) -> dict[str, Any]:
        run_jobs()
        response = app.test_client().get(f"/api/calls/{call_sid}", headers=api_headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        found: dict[str, Any] = response.get_json()
        return found

    return read


@pytest.fixture
def heard(app: Flask) -> Heard:
    """The transcript line for a prompt: `heard("repair.intro", "en-US")`."""
    engine: FlowEngine = services_of(app).engine

    def line(key: str, locale: str = "zh-CN", **extra: str) -> str:
        name = engine.settings.hotline_name_in(locale)
        values = {**engine.values, "hotline_name": name, **extra}
        return "hotline: " + engine.catalogues[locale].render(key, values).text

    return line


@pytest.fixture
def demo_estate(app: Flask) -> Flask:
    """The demo estate in the registry, and in the app's directory: CALLER owns two units."""
    with services_of(app).db.session() as session:
        load_demo_estate(session)
    refresh_directory(app)
    return app


def rows(app: Flask, model: type[Any]) -> list[Any]:
    """What the workers wrote: every row of a table, oldest first."""
    with services_of(app).db.reader() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def expand(lines: Sequence[str], heard: Heard, locale: str) -> list[str]:
    """`@key` stands for the prompt the caller hears (the main menu: with the offer of the
    other language after it); anything else is literal."""
    expanded: list[str] = []
    for line in lines:
        if not line.startswith("@"):
            expanded.append(line)
            continue
        expanded.append(heard(line[1:], locale))
        if line == "@main.menu":
            expanded.append(heard("main.other_language", locale))
    return expanded


def opening(call: PhoneCall, heard: Heard) -> list[str]:
    return [
        f"calling {BASE_URL} from {CALLER} ({call.call_sid})",
        heard("main.greeting"),
        heard("main.menu"),
        heard("main.other_language"),
    ]


def closing(call: PhoneCall) -> str:
    return f"call ended after {call.summary.duration_s} s and {call.summary.requests} requests"


def kinds(
    log: Mapping[str, Any], skip: frozenset[str] = frozenset({"entered", "status"})
) -> list[str]:
    return [event["kind"] for event in log["events"] if event["kind"] not in skip]


def details(log: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [event["detail"] for event in log["events"] if event["kind"] == kind]


def dials(log: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Each rung dialled: which, whom, how it ended and whether the caller was put through."""
    return [
        (dial["rung"], dial["phone"], dial["status"], dial["bridged"])
        for dial in details(log, "dial_result")
    ]


def status_events(log: Mapping[str, Any]) -> list[dict[str, Any]]:
    return details(log, "status")


def outcome(log: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return (log["category"], log["outcome"], log["status"])


# --- the main menu: each key, or a few words, leads to its first question ----------------


@pytest.mark.parametrize(
    ("script", "lines", "category", "events", "locale"),
    [
        pytest.param(
            "1",
            ("you pressed 1", "@repair.intro", "@repair.menu"),
            "repair",
            ("choice", "routed"),
            "zh-CN",
            id="1-repair-menu",
        ),
        pytest.param(
            "2",
            ("you pressed 2", APOLOGY, "@unit.ask_building"),
            "complaint",
            ("choice", "routed", "identified"),
            "zh-CN",
            id="2-complaint-apologises-first",
        ),
        pytest.param(
            "3",
            ("you pressed 3", "@inquiry.intro", "@inquiry.menu"),
            "inquiry",
            ("choice", "routed"),
            "zh-CN",
            id="3-inquiry-menu",
        ),
        pytest.param(
            "13",
            ("you pressed 1 (keys 3 not taken)", "@repair.intro", "@repair.menu"),
            "repair",
            ("choice", "routed"),
            "zh-CN",
            id="only-the-first-key-counts",
        ),
        pytest.param(
            "我家厨房漏水了",
            ("you said 我家厨房漏水了", "@repair.intro", "@repair.menu"),
            "repair",
            ("speech", "routed"),
            "zh-CN",
            id="speech-repair",
        ),
        pytest.param(
            "维修太慢了，我要投诉",
            ("you said 维修太慢了，我要投诉", APOLOGY, "@unit.ask_building"),
            "complaint",
            ("speech", "routed", "identified"),
            "zh-CN",
            id="speech-a-complaint-about-repairs-is-a-complaint",
        ),
        pytest.param(
            "*,3",
            ("you pressed *", "@main.menu", "you pressed 3", "@inquiry.intro", "@inquiry.menu"),
            "inquiry",
            ("choice", "choice", "routed"),
            "zh-CN",
            id="star-repeats-the-menu",
        ),
        pytest.param(
            "9,1",
            (
                "you pressed 9",
                "@main.language_welcome",
                "@main.menu",
                "you pressed 1",
                "@repair.intro",
                "@repair.menu",
            ),
            "repair",
            ("choice", "language", "choice", "routed"),
            "en-US",
            id="9-english-then-repair",
        ),
    ],
)
def test_the_main_menu_leads_to_the_right_service(
    phone: Phone,
    call_log: CallLog,
    heard: Heard,
    script: str,
    lines: tuple[str, ...],
    category: str,
    events: tuple[str, ...],
    locale: str,
) -> None:
    call = phone(script)  # the script runs out at the service's first question: a hang-up

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(lines, heard, locale),
        "you hang up",
        closing(call),
    ]
    assert call.summary.ended_by == "caller"
    log = call_log(call.call_sid)
    assert outcome(log) == (category, "abandoned", "completed")
    assert (log["locale"], log["caller_number"]) == (locale, CALLER)
    assert kinds(log) == ["call_started", "greeted", *events]


def test_speech_at_the_main_menu_is_matched_to_the_option_it_names(
    phone: Phone, call_log: CallLog
) -> None:
    call = phone("我家厨房漏水了")

    [said] = details(call_log(call.call_sid), "speech")
    assert said == {
        "text": "我家厨房漏水了",
        "confidence": 0.9,
        "via": "keyword",
        "score": 1.0,
        "words": ["漏水"],
        "option": "1",
        "goto": "repair",
    }


def test_the_standard_greeting_comes_first(app: Flask, phone: Phone, call_log: CallLog) -> None:
    call = phone("0,a")

    name = services_of(app).settings.hotline_name
    assert call.transcript.lines[1] == f"hotline: 您好，{name}客服中心，很高兴为您服务。"  # R1/R2
    log = call_log(call.call_sid)
    greeted = [event for event in log["events"] if event["kind"] == "greeted"]
    assert [event["node"] for event in greeted] == ["welcome"]
    assert isinstance(log["greeting_ms"], float)


# --- a person, in office hours ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    script: str
    lines: tuple[str, ...]  # what follows the greeting and menu, up to the queue
    queue: str
    category: str | None
    events: tuple[str, ...]  # the caller's turn in the call log, after call_started, greeted
    locale: str = "zh-CN"


ROUTES = [
    pytest.param(
        Route(
            "0,a",
            ("you pressed 0", "@queue.connecting"),
            "general",
            None,
            ("choice", "handoff", "queue_result"),
        ),
        id="0-person",
    ),
    pytest.param(
        Route(
            "我要转人工,a",
            ("you said 我要转人工", "@queue.connecting"),
            "general",
            None,
            ("speech", "handoff", "queue_result"),
        ),
        id="speech-person",
    ),
    pytest.param(
        Route(
            "9,0,a",
            (
                "you pressed 9",
                "@main.language_welcome",
                "@main.menu",
                "you pressed 0",
                "@queue.connecting",
            ),
            "general",
            None,
            ("choice", "language", "choice", "handoff", "queue_result"),
            locale="en-US",
        ),
        id="9-english-then-person",
    ),
    pytest.param(
        Route(
            ",,,a",
            (
                "you stay silent",
                "@system.no_input",
                "@main.menu",
                "you stay silent",
                "@system.no_input",
                "@main.menu",
                "you stay silent",
                "@queue.connecting",
            ),
            "general",
            None,
            ("no_input", "no_input", "no_input", "retries_exhausted", "handoff", "queue_result"),
        ),
        id="three-silences-reach-a-person",
    ),
    pytest.param(
        Route(
            "3,0,a",
            (
                "you pressed 3",
                "@inquiry.intro",
                "@inquiry.menu",
                "you pressed 0",
                "@inquiry.transfer",
            ),
            "inquiry",
            "inquiry",
            ("choice", "routed", "choice", "handoff", "queue_result"),
        ),
        id="3-inquiry-then-person",
    ),
]


def holding(heard: Heard, locale: str = "zh-CN") -> list[str]:
    """One round of the queue's wait message, first in line (R8)."""
    return [
        heard("queue.next", locale, minutes="2"),
        heard("system.queue_hold", locale),
        f"hotline pauses {QUEUE_HOLD_PAUSE_S} s",
        heard("queue.choice", locale),
    ]


@pytest.mark.parametrize("route", ROUTES)
def test_in_office_hours_a_person_answers_from_the_queue(
    phone: Phone, call_log: CallLog, heard: Heard, route: Route
) -> None:
    call = phone(route.script)

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(route.lines, heard, route.locale),
        f"hotline puts you in the {route.queue} queue",
        *holding(heard, route.locale),
        "an agent answers",
        heard("system.goodbye", route.locale),
        "hotline hangs up",
        closing(call),
    ]
    assert call.summary.ended_by == "hotline"
    log = call_log(call.call_sid)
    assert outcome(log) == (route.category, "agent_served", "completed")
    assert (log["queue"], log["locale"], log["caller_number"]) == (
        route.queue,
        route.locale,
        CALLER,
    )
    assert kinds(log) == ["call_started", "greeted", *route.events]
    assert status_events(log) == [{"status": "completed", "duration_s": call.summary.duration_s}]
    assert log["duration_s"] == call.summary.duration_s


@pytest.mark.parametrize(
    ("script", "after_queue", "expected", "ended_by"),
    [
        pytest.param(
            "0,l,请尽快处理",
            (
                "you leave the queue",
                "@message.offer",
                "hotline records your message after the beep",
                "you leave a message: 请尽快处理",
                "@system.message_thanks",
                "@system.goodbye.message",
                "hotline hangs up",
            ),
            "message",
            "hotline",
            id="leaves-then-messages",
        ),
        pytest.param(
            "0,2,请回电",
            (
                "you pressed 2",
                "you leave the queue",
                "@message.offer",
                "hotline records your message after the beep",
                "you leave a message: 请回电",
                "@system.message_thanks",
                "@system.goodbye.message",
                "hotline hangs up",
            ),
            "message",
            "hotline",
            id="presses-2-for-a-message",
        ),
        pytest.param(
            "0,1",
            (
                "you pressed 1",
                "@queue.callback_promise",
                "hotline hangs up",
                "you hang up in the queue",
            ),
            "callback",
            "caller",
            id="presses-1-to-be-called-back",
        ),
        pytest.param("0,h", ("you hang up in the queue",), "abandoned", "caller", id="hangs-up"),
        pytest.param("0", ("you hang up in the queue",), "abandoned", "caller", id="script-ends"),
    ],
)
def test_a_caller_who_leaves_the_queue(
    phone: Phone,
    call_log: CallLog,
    heard: Heard,
    script: str,
    after_queue: tuple[str, ...],
    expected: str,
    ended_by: str,
) -> None:
    call = phone(script)

    assert call.transcript.lines == [
        *opening(call, heard),
        "you pressed 0",
        heard("queue.connecting"),
        "hotline puts you in the general queue",
        *holding(heard),
        *expand(after_queue, heard, "zh-CN"),
        closing(call),
    ]
    assert call.summary.ended_by == ended_by
    log = call_log(call.call_sid)
    assert outcome(log) == (None, expected, "completed")
    assert details(log, "queue_result") == [
        {
            "result": "leave" if expected == "message" else "hangup",
            "queue": "general",
            "waited_s": 0,
        }
    ]
    if expected == "callback":
        assert details(log, "virtual_hold") == [{"queue": "general", "waited_s": 0, "position": 1}]


# --- out of hours: a message, and a callback owed -----------------------------------------

OUT_OF_HOURS = datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
MESSAGE = "我是3栋2单元501，厨房水管漏水，请回电"
INQUIRY_TO_A_PERSON = ("you pressed 3", "@inquiry.intro", "@inquiry.menu", "you pressed 0")


@pytest.mark.parametrize(
    ("script", "lines", "category", "important", "reason"),
    [
        pytest.param(
            "0",
            ("you pressed 0", "@message.after_hours"),
            None,
            False,
            "message left out of hours",
            id="0-person",
        ),
        pytest.param(
            "3,0,1",
            (*INQUIRY_TO_A_PERSON, "@inquiry.importance", "you pressed 1", "@message.important"),
            "inquiry",
            True,
            "inquiry message (important)",
            id="inquiry-important",
        ),
        pytest.param(
            "3,0,2",
            (*INQUIRY_TO_A_PERSON, "@inquiry.importance", "you pressed 2", "@message.general"),
            "inquiry",
            False,
            "inquiry message",
            id="inquiry-general",
        ),
    ],
)
def test_out_of_hours_the_caller_leaves_a_message_for_a_callback(
    app: Flask,
    phone: Phone,
    call_log: CallLog,
    heard: Heard,
    clock: FrozenClock,
    script: str,
    lines: tuple[str, ...],
    category: str | None,
    important: bool,
    reason: str,
) -> None:
    clock.set(OUT_OF_HOURS)

    call = phone(f"{script},{MESSAGE}")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(lines, heard, "zh-CN"),
        "hotline records your message after the beep",
        f"you leave a message: {MESSAGE}",
        heard("system.message_thanks"),
        heard("system.goodbye.message"),
        "hotline hangs up",
        closing(call),
    ]
    [recording_url] = call.summary.recordings
    assert RECORDING_URL.match(recording_url)
    log = call_log(call.call_sid)
    assert outcome(log) == (category, "message", "completed")
    assert (log["recording_url"], log["handler"]) == (recording_url, "ivr")
    [recorded] = details(log, "message_recorded")
    assert recorded["recording_url"] == recording_url
    assert RECORDING_SID.match(recorded["recording_sid"])
    assert recorded["duration_s"] == speaking_seconds(MESSAGE)
    [callback] = rows(app, Callback)
    assert (callback.call_sid, callback.phone, callback.recording_url) == (
        call.call_sid,
        CALLER,
        recording_url,
    )
    assert (callback.important, callback.reason) == (important, reason)


def test_out_of_hours_with_no_message_says_goodbye(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard, clock: FrozenClock
) -> None:
    clock.set(OUT_OF_HOURS)

    call = phone("0,")

    assert call.transcript.lines[-5:] == [
        "hotline records your message after the beep",
        "you leave no message",
        heard("system.goodbye"),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert kinds(log)[-3:] == ["message_offered", "message_empty", "closed_by_ivr"]
    assert (log["outcome"], log["status"], log["recording_url"]) == (
        "abandoned",
        "completed",
        None,
    )
    assert rows(app, Callback) == []


def test_a_script_that_runs_out_at_the_menu_hangs_up(
    phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    call = phone("")

    assert call.transcript.lines == [
        *opening(call, heard),
        "you stay silent",
        heard("system.no_input"),
        heard("main.menu"),
        heard("main.other_language"),
        "you hang up",
        closing(call),
    ]
    assert (call.summary.ended_by, call.summary.requests) == ("caller", 2)
    log = call_log(call.call_sid)
    assert (log["outcome"], log["status"]) == ("abandoned", "completed")
    assert kinds(log) == ["call_started", "greeted", "no_input"]


# --- business done by the IVR: repair orders, complaints, answers -------------------------

ORDERED = "hotline: 您的报修已登记，报修单号是1 1 2 3 0 0 1。"  # the day's first ticket: 1123001
SLOTS = (
    "hotline: 请选择维修人员上门的时间。",
    "hotline: 今天上午请按1。",
    "hotline: 明天上午请按2。",
    "hotline: 明天下午请按3。",
)
TYPING = (
    "@unit.ask_building",
    "you pressed 3",
    "@unit.ask_entrance",
    "you stay silent",  # # alone: Twilio reports no keys, and the 单元 is skipped
    "@unit.ask_room",
    "you pressed 502",
)
# An unknown caller types building, no entrance and room; the registry has no such unit, so
# they are told so and type it once more, then confirm.
TYPED_KEYS = "3#,#,502#,3#,#,502#"
TYPED_UNIT = (
    *TYPING,
    "hotline: 对不起，没有找到3栋502室，请您重新输入。",
    *TYPING,
    "hotline: 您输入的是3栋502室。确认请按1，重新输入请按2。",
    "you pressed 1",
)
# "地上全是水" would be a serious leak, an emergency: an ordinary repair is a dripping tap.
DESCRIPTION = "厨房水龙头一直滴水，关不紧"


def test_an_unknown_caller_reports_an_ordinary_repair(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    call = phone(f"1,2,{TYPED_KEYS},1,1,{DESCRIPTION},3,1")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(
            [
                "you pressed 1",
                "@repair.intro",
                "@repair.menu",
                "you pressed 2",
                *TYPED_UNIT,
                "@repair.category",
                "you pressed 1",
                "@repair.describe",
                f"you said {DESCRIPTION}",
                *SLOTS,
                "you pressed 3",
                ORDERED + "我们会安排维修人员在明天下午上门，稍后会发短信给您确认。",
                "@rating.ask",
                "you pressed 1",
                "@rating.thanks",
                "@system.goodbye.repair",
            ],
            heard,
            "zh-CN",
        ),
        "hotline hangs up",
        closing(call),
    ]
    assert call.summary.ended_by == "hotline"
    log = call_log(call.call_sid)
    assert outcome(log) == ("repair", "self_served", "completed")
    assert (log["unit"], log["handler"]) == ("3栋502室", "ivr")
    assert kinds(log) == [
        "call_started",
        "greeted",
        "choice",
        "routed",
        "choice",
        "identified",
        *["choice", "choice", "choice", "unit_typed"] * 2,  # not found, then typed once more
        "choice",
        "choice",
        "described",
        "slot_chosen",
        "ticket_opened",
        "rated",
        "closed_by_ivr",
    ]
    assert details(log, "rated") == [{"rating": 1}]
    [ticket] = rows(app, Ticket)
    assert (ticket.number, ticket.kind, ticket.category, ticket.priority) == (
        "1123001",
        "repair",
        "water",
        "normal",
    )
    assert (ticket.unit_id, ticket.unit_text, ticket.description) == (None, "3栋502室", DESCRIPTION)
    assert (ticket.appointment_slot, ticket.call_sid, ticket.caller_number) == (
        "tomorrow_pm",
        call.call_sid,
        CALLER,
    )
    [sms] = rows(app, OutboundMessage)
    assert (sms.to_number, sms.purpose) == (CALLER, "confirmation")


def test_a_complaint_hears_the_apology_first_and_gets_a_complaint_ticket(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    complaint = "楼上每天半夜装修，吵得睡不着"
    call = phone(f"2,{TYPED_KEYS},1,4,{complaint},")  # and no rating: it is optional

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(
            [
                "you pressed 2",
                APOLOGY,
                *TYPED_UNIT,
                "@complaint.category",
                "you pressed 4",
                "@complaint.describe",
                f"you said {complaint}",
                "hotline: 您的投诉已登记，投诉单号是1 1 2 3 0 0 1。"
                "我们会在今天之内调查核实，并由专人给您答复。",
                "@rating.ask",
                "you stay silent",
                "@system.goodbye.complaint",
            ],
            heard,
            "zh-CN",
        ),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert outcome(log) == ("complaint", "self_served", "completed")
    assert details(log, "rated") == []
    [ticket] = rows(app, Ticket)
    assert (ticket.number, ticket.kind, ticket.category, ticket.unit_text) == (
        "1123001",
        "complaint",
        "noise",
        "3栋502室",
    )
    assert (ticket.description, ticket.call_sid) == (complaint, call.call_sid)


def test_an_inquiry_hears_an_answer_again_goes_back_and_hears_another(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    call = phone("3,2,*,1,1,,2,2")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(
            [
                "you pressed 3",
                "@inquiry.intro",
                "@inquiry.menu",
                "you pressed 2",
                "@faq.property_fee",
                "@faq.after",
                "you pressed *",  # again
                "@faq.property_fee",
                "@faq.after",
                "you pressed 1",  # another question: back to the inquiry menu
                "@inquiry.menu",
                "you pressed 1",
                "hotline: 客服中心每天07:00-21:00为您服务，工作时间以外的紧急报修由值班工程师处理。",
                "@faq.after",
                "you stay silent",  # asked whether there is anything else
                "@faq.more",
                "you pressed 2",  # nothing: asked to rate the service
                "@rating.ask",
                "you pressed 2",
                "@rating.thanks",
                "@system.goodbye.faq",
            ],
            heard,
            "zh-CN",
        ),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert outcome(log) == ("inquiry", "self_served", "completed")
    assert details(log, "rated") == [{"rating": 2}]
    assert rows(app, Ticket) == []


def test_a_known_caller_confirms_their_unit_and_records_the_fault(
    demo_estate: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    fault = "大门的锁坏了，钥匙插不进去"
    call = phone(f"1,2,1,3,,{fault},1,3,")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(
            [
                "you pressed 1",
                "@repair.intro",
                "@repair.menu",
                "you pressed 2",
                "hotline: 请问您是1栋1单元101室的住户吗？确认请按1，不是请按2。",
                "you pressed 1",
                "@repair.category",
                "you pressed 3",
                "@repair.describe",
                "you stay silent",  # so the hotline records the description instead
                "@repair.record",
                "hotline records your message after the beep",
                f"you leave a message: {fault}",
                *SLOTS,
                "you pressed 1",
                ORDERED + "我们会安排维修人员在今天上午上门，稍后会发短信给您确认。",
                "@rating.ask",
                "you pressed 3",  # 不满意: an apology, and a person or a message offered
                "@rating.sorry",
                "you stay silent",
                "@system.goodbye.repair",
            ],
            heard,
            "zh-CN",
        ),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert outcome(log) == ("repair", "self_served", "completed")
    [identified] = details(log, "identified")
    assert (identified["known"], identified["unit"], identified["households"]) == (
        True,
        "1栋1单元101室",
        2,
    )
    assert log["unit"] == "1栋1单元101室"
    [ticket] = rows(demo_estate, Ticket)
    assert (ticket.unit_id, ticket.resident_id) == (
        identified["unit_id"],
        identified["resident_id"],
    )
    assert (ticket.category, ticket.description, ticket.appointment_slot) == (
        "doors",
        "",
        "today_am",
    )
    [recording_url] = call.summary.recordings
    assert ticket.recording_url == recording_url
    assert RECORDING_SID.match(ticket.recording_sid or "")


# --- emergencies: the on-call engineer first ----------------------------------------------

EMERGENCY_LEAK = (
    "you pressed 1",
    "@repair.intro",
    "@repair.menu",
    "you pressed 1",
    "@emergency.menu",
    "you pressed 1",
    "@emergency.advice_leak",
    "hotline: 已为您登记紧急报修，单号是1 1 2 3 0 0 1。",
    "@emergency.connecting",
    f"hotline dials {ENGINEER}",
)


def test_an_emergency_is_put_through_to_the_on_call_engineer(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    call = phone("1,1,1,a")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(EMERGENCY_LEAK, heard, "zh-CN"),
        "the number answers",
        # The engineer is briefed on their leg and presses 1 before the bridge.
        f"hotline to {ENGINEER}: 您好，这里是幸福家园物业客服中心的紧急报修：住址未登记，"
        "爆管或严重漏水，住户电话1 3 8 0 0 1 3 8 0 0 0，报修单号1 1 2 3 0 0 1。",
        f"hotline to {ENGINEER}: 接听并接通住户请按1。",
        f"({ENGINEER} presses 1)",
        f"hotline to {ENGINEER}: 正在为您接通住户。",
        heard("system.goodbye.emergency"),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert (log["category"], log["status"]) == ("repair", "completed")
    assert dials(log) == [(0, ENGINEER, "completed", True)]
    [ticket] = rows(app, Ticket)
    assert (ticket.number, ticket.priority, ticket.sla_tier, ticket.category) == (
        "1123001",
        "emergency",
        "emergency",
        "water",
    )


def test_an_emergency_nobody_on_call_answers_goes_to_the_emergency_queue(
    app: Flask, phone: Phone, call_log: CallLog, heard: Heard
) -> None:
    call = phone("1,1,1,n,n,a")

    assert call.transcript.lines == [
        *opening(call, heard),
        *expand(EMERGENCY_LEAK, heard, "zh-CN"),
        "nobody answers",
        heard("emergency.connecting"),
        f"hotline dials {DEPUTY}",
        "nobody answers",
        heard("emergency.not_reached"),
        heard("emergency.queue"),
        "hotline puts you in the emergency queue",
        *holding(heard),
        "an agent answers",
        heard("system.goodbye"),
        "hotline hangs up",
        closing(call),
    ]
    log = call_log(call.call_sid)
    assert outcome(log) == ("repair", "agent_served", "completed")
    assert log["queue"] == "emergency"
    assert dials(log) == [(0, ENGINEER, "no-answer", True), (1, DEPUTY, "no-answer", True)]
    assert [ticket.priority for ticket in rows(app, Ticket)] == ["emergency"]


def test_scripted_answers_come_in_turn_then_the_caller_is_gone() -> None:
    caller = ScriptedCaller.from_text("1, ,我家漏水了，很急")

    answers = [caller.answer(GATHER_HINT) for _ in range(5)]

    assert answers == ["1", "", "我家漏水了，很急", None, None]


# --- what the caller types, read as Twilio would -----------------------------------------


@pytest.mark.parametrize(
    ("typed", "num_digits", "reply"),
    [
        ("1", 1, GatherReply(digits="1")),
        ("*", 1, GatherReply(digits="*")),
        ("12", 1, GatherReply(digits="1", dropped_keys="2")),
        ("1 2 3", 2, GatherReply(digits="12", dropped_keys="3")),
        ("123", None, GatherReply(digits="123")),
        ("12#9", None, GatherReply(digits="12")),  # the finish key ends the input
        ("#", 1, GatherReply()),
        ("我家漏水了", 1, GatherReply(speech="我家漏水了")),
        ("  one  ", 1, GatherReply(speech="one")),
        ("1a", 1, GatherReply(speech="1a")),
        ("", 1, GatherReply()),
        ("   ", 1, GatherReply()),
    ],
)
def test_typed_answers_become_keys_speech_or_silence(
    typed: str, num_digits: int | None, reply: GatherReply
) -> None:
    assert read_gather_reply(typed, num_digits, "#", "dtmf speech") == reply


@pytest.mark.parametrize(
    ("typed", "accepts", "reply"),
    [
        ("1", "speech", GatherReply()),
        ("我家漏水了", "dtmf", GatherReply()),
        ("1", "dtmf", GatherReply(digits="1")),
        ("hello", "speech", GatherReply(speech="hello")),
    ],
)
def test_a_gather_hears_only_the_input_it_asks_for(
    typed: str, accepts: str, reply: GatherReply
) -> None:
    assert read_gather_reply(typed, 1, "#", accepts) == reply


@pytest.mark.parametrize(
    ("reply", "params"),
    [
        (GatherReply(digits="1"), [("Digits", "1")]),
        (GatherReply(speech="我家漏水了"), [("SpeechResult", "我家漏水了"), ("Confidence", "0.9")]),
        (GatherReply(), []),
    ],
)
def test_replies_post_twilio_parameters(reply: GatherReply, params: list[tuple[str, str]]) -> None:
    assert reply.as_params() == params


def test_the_keyboard_caller_shows_the_hint_and_hangs_up_at_end_of_input() -> None:
    prompts: list[str] = []
    lines = iter([" 1 "])

    def read_line(prompt: str) -> str:
        prompts.append(prompt)
        return next(lines, None) or _end_of_input()

    caller = KeyboardCaller(read_line)

    assert [caller.answer(GATHER_HINT), caller.answer(GATHER_HINT)] == ["1", None]
    assert prompts == [f"  [{GATHER_HINT}] > "] * 2


def _end_of_input() -> str:
    raise EOFError


# --- Twilio's side, against a hotline with canned answers ---------------------------------


@dataclass(frozen=True)
class Sent:
    url: str
    form: list[tuple[str, str]]
    signature: str

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def params(self) -> dict[str, str]:
        return dict(self.form)


class CannedHotline:
    """A transport that answers each path with fixed TwiML and keeps every request."""

    def __init__(self, pages: Mapping[str, str], status: int = 200) -> None:
        self.pages = pages
        self.status = status
        self.sent: list[Sent] = []

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        self.sent.append(Sent(url, list(form), headers["X-Twilio-Signature"]))
        body = self.pages.get(urlsplit(url).path, "<Response/>")
        return HotlineAnswer(self.status, body.encode())


def canned_call(pages: Mapping[str, str], script: str, status: int = 200) -> PhoneCall:
    call = PhoneCall(
        BASE_URL,
        CALLER,
        CannedHotline(pages, status),
        SignatureChecker(AUTH_TOKEN),
        ScriptedCaller.from_text(script),
        Transcript(),
    )
    call.run()
    return call


def sent(call: PhoneCall) -> list[Sent]:
    transport = call.transport
    assert isinstance(transport, CannedHotline)
    return transport.sent


def test_every_request_is_signed_and_twilio_shaped() -> None:
    call = canned_call(
        {
            "/voice/incoming": '<Response><Gather action="/voice/step" numDigits="1">'
            "<Say>Press 1.</Say></Gather></Response>",
            "/voice/step": "<Response><Hangup/></Response>",
        },
        "1",
    )

    requests = sent(call)
    assert [r.path for r in requests] == ["/voice/incoming", "/voice/step", "/voice/status"]
    checker = SignatureChecker(AUTH_TOKEN)
    assert all(checker.is_genuine(r.url, r.params, r.signature) for r in requests)
    assert all(r.params.keys() >= TWILIO_PARAMS for r in requests)
    assert CALL_SID.match(call.call_sid)
    assert {r.params["CallSid"] for r in requests} == {call.call_sid}
    assert [r.params["CallStatus"] for r in requests] == ["ringing", "in-progress", "completed"]
    first = requests[0].params
    assert (first["Direction"], first["From"], first["Caller"]) == ("inbound", CALLER, CALLER)
    assert requests[1].params["Digits"] == "1"
    status = requests[2].params
    assert (status["CallDuration"], status["SequenceNumber"]) == (
        str(call.summary.duration_s),
        "0",
    )


def test_relative_urls_resolve_against_the_current_document() -> None:
    call = canned_call(
        {
            "/voice/incoming": "<Response><Play>media/hello.mp3</Play><Pause length='3'/>"
            "<Redirect>menu?x=1</Redirect><Say>never reached</Say></Response>",
            "/voice/menu": '<Response><Say language="en-US">Goodbye.</Say></Response>',
        },
        "",
    )

    assert [r.path for r in sent(call)] == ["/voice/incoming", "/voice/menu?x=1", "/voice/status"]
    assert call.transcript.lines[1:] == [
        f"hotline plays {BASE_URL}/voice/media/hello.mp3",
        "hotline pauses 3 s",
        "hotline: Goodbye.",
        "the hotline's TwiML ran out, so Twilio hangs up",
        closing(call),
    ]
    assert call.summary.ended_by == "end of TwiML"


@pytest.mark.parametrize(
    ("script", "dial_status", "note"),
    [
        ("a", "completed", "the number answers"),
        ("", "completed", "the number answers"),
        ("n", "no-answer", "nobody answers"),
        ("maybe,n", "no-answer", "nobody answers"),
    ],
)
def test_dial_asks_whether_the_number_answers(script: str, dial_status: str, note: str) -> None:
    call = canned_call(
        {
            "/voice/incoming": '<Response><Dial action="/voice/dialled">+8613900000000</Dial>'
            "</Response>",
            "/voice/dialled": "<Response><Hangup/></Response>",
        },
        script,
    )

    assert call.transcript.lines[1] == "hotline dials +8613900000000"
    assert note in call.transcript.lines
    dialled = sent(call)[1]
    assert (dialled.path, dialled.params["DialCallStatus"]) == ("/voice/dialled", dial_status)


def test_record_posts_a_twilio_shaped_recording() -> None:
    call = canned_call(
        {
            "/voice/incoming": '<Response><Record action="message" maxLength="60"/></Response>',
            "/voice/message": "<Response><Hangup/></Response>",
        },
        "Flat 501 the kitchen pipe leaks please call back",  # 48 characters,
    )

    posted = sent(call)[1]
    assert posted.path == "/voice/message"
    assert RECORDING_SID.match(posted.params["RecordingSid"])
    assert posted.params["RecordingUrl"] == call.summary.recordings[0]
    assert RECORDING_URL.match(posted.params["RecordingUrl"])
    assert posted.params["RecordingDuration"] == "4"


def test_record_with_no_message_goes_on_with_the_next_verb() -> None:
    call = canned_call(
        {
            "/voice/incoming": "<Response><Record action='message'/><Say>No message.</Say></Response>"
        },
        "",
    )

    assert [r.path for r in sent(call)] == ["/voice/incoming", "/voice/status"]
    assert call.transcript.lines[1:4] == [
        "hotline records your message after the beep",
        "you leave no message",
        "hotline: No message.",
    ]


def test_enqueue_plays_the_hold_message_once_and_reports_a_hang_up() -> None:
    call = canned_call(
        {
            "/voice/incoming": "<Response><Enqueue waitUrl='wait' action='/voice/after'>"
            "support</Enqueue></Response>",
            "/voice/wait": "<Response><Say>Please hold.</Say><Play>music.mp3</Play></Response>",
            "/voice/after": "<Response><Say>Nobody hears this.</Say></Response>",
        },
        "h",
    )

    requests = sent(call)
    assert [r.path for r in requests] == [
        "/voice/incoming",
        "/voice/wait",
        "/voice/after",
        "/voice/status",
    ]
    wait = requests[1].params
    assert (wait["QueuePosition"], wait["QueueTime"], wait["CurrentQueueSize"]) == ("1", "0", "1")
    assert requests[2].params["QueueResult"] == "hangup"
    assert call.transcript.lines[1:6] == [
        "hotline puts you in the support queue",
        "hotline: Please hold.",
        f"hotline plays {BASE_URL}/voice/music.mp3",
        "you hang up in the queue",
        closing(call),
    ]


def test_a_looping_flow_stops_at_the_request_limit() -> None:
    call = canned_call(
        {"/voice/incoming": "<Response><Redirect>incoming</Redirect></Response>"}, ""
    )

    assert (call.summary.requests, call.summary.ended_by) == (
        MAX_REQUESTS_PER_CALL,
        "request limit",
    )
    assert len(sent(call)) == MAX_REQUESTS_PER_CALL + 1
    assert sent(call)[-1].path == "/voice/status"


@pytest.mark.parametrize(
    ("page", "status", "error", "message"),
    [
        ("<html>oops</html>", 200, HotlineError, "not a TwiML <Response>"),
        ("not xml at all", 200, HotlineError, "did not answer with TwiML"),
        ("<Response/>", 500, HotlineRefusedError, "HTTP 500"),
        ("<Response/>", 403, HotlineRefusedError, "refused our signature"),
    ],
)
def test_a_broken_answer_stops_the_call_with_a_clear_error(
    page: str, status: int, error: type[HotlineError], message: str
) -> None:
    with pytest.raises(error, match=message):
        canned_call({"/voice/incoming": page}, "", status)


# --- signing for the URL the server checks ------------------------------------------------


def test_signs_for_the_servers_public_url_when_calling_it_by_another(
    app: Flask, call_log: CallLog
) -> None:
    call = place_call(app, "0,h", url="http://127.0.0.1:5000", public_url=BASE_URL)

    assert call.summary.ended_by == "caller"
    assert call_log(call.call_sid)["status"] == "completed"


def test_signing_for_the_wrong_url_is_refused(app: Flask) -> None:
    with pytest.raises(HotlineRefusedError, match=r"refused our signature .* \(403\)"):
        place_call(app, "0,h", url="http://127.0.0.1:5000")


# --- the `ivr call` entry point ------------------------------------------------------------


@pytest.mark.parametrize("token_from", ["environment", "development-file"])
def test_call_from_terminal_signs_with_the_servers_token(
    app: Flask,
    call_log: CallLog,
    heard: Heard,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token_from: str,
) -> None:
    if token_from == "environment":
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    else:  # the app fixture points IVR_DATA_DIR at this test's folder
        monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
        (Path(os.environ["IVR_DATA_DIR"]) / "auth-token").write_text(AUTH_TOKEN)

    summary = call_from_terminal(
        BASE_URL, CALLER, scripted="0,a", transport=FlaskTransport(app.test_client())
    )

    printed = capsys.readouterr().out.splitlines()
    assert printed[4:6] == ["you pressed 0", heard("queue.connecting")]
    assert (summary.ended_by, summary.problem) == ("hotline", "")
    assert call_log(summary.call_sid)["outcome"] == "agent_served"


def test_call_from_terminal_explains_a_refused_signature(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = call_from_terminal(
        BASE_URL,
        CALLER,
        scripted="1",
        transport=FlaskTransport(app.test_client()),
        auth_token="not-the-servers-token",
    )

    assert summary.ended_by == "error"
    assert capsys.readouterr().err.startswith("call failed: the hotline refused our signature")


@pytest.fixture
def closed_port() -> int:
    return free_port()


def test_http_transport_says_when_the_hotline_is_not_running(closed_port: int) -> None:
    transport = HttpTransport()
    url = f"http://127.0.0.1:{closed_port}/voice/incoming"

    with pytest.raises(HotlineUnreachableError) as refused:
        transport.post(url, [("CallSid", "CA" + "0" * 32)], {})
    transport.close()

    assert str(refused.value) == (
        f"nothing answers at http://127.0.0.1:{closed_port}: is the hotline running?"
        " Start it with `ivr run`, or point --url at it."
    )


def test_call_from_terminal_returns_normally_when_nothing_listens(
    closed_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("IVR_ENV", raising=False)

    summary = call_from_terminal(f"http://127.0.0.1:{closed_port}", CALLER, scripted="1")

    assert (summary.ended_by, summary.requests) == ("error", 1)
    assert summary.problem.startswith(f"nothing answers at http://127.0.0.1:{closed_port}")
    assert capsys.readouterr().err == f"call failed: {summary.problem}\n"


# --- speaking aloud -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "voice"),
    [("cmn-CN", "cmn"), ("zh-CN", "cmn"), ("en-US", "en-us"), ("", "en-us")],
)
def test_espeak_voice_follows_the_say_language(language: str, voice: str) -> None:
    assert espeak_voice(language) == voice


def test_speak_is_skipped_without_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert find_espeak() is None


def test_speak_runs_espeak_with_the_voice_for_the_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoken = tmp_path / "spoken.txt"
    program = tmp_path / "espeak-ng"
    program.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {spoken}\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    speaker = find_espeak()
    assert speaker is not None
    speaker("您好", "cmn-CN")
    speaker("Hello", "en-US")

    assert spoken.read_text().splitlines() == ["-v", "cmn", "您好", "-v", "en-us", "Hello"]


def test_a_call_speaks_every_prompt_it_prints(app: Flask, heard: Heard) -> None:
    spoken: list[tuple[str, str]] = []
    call = PhoneCall(
        BASE_URL,
        CALLER,
        FlaskTransport(app.test_client()),
        SignatureChecker(AUTH_TOKEN),
        ScriptedCaller.from_text("9"),
        Transcript(speaker=lambda text, language: spoken.append((text, language))),
    )

    call.run()

    printed = [line for line in call.transcript.lines if line.startswith("hotline: ")]
    assert [f"hotline: {text}" for text, _ in spoken] == printed
    # "For English, press 9." in the English voice, 「中文服务请按9。」 in the Chinese one.
    languages = ["cmn-CN", "cmn-CN", "en-US", "en-US", "en-US", "cmn-CN"]
    assert [language for _, language in spoken] == languages
