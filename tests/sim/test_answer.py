"""`ivr call --answer`: calls the hotline places without a Twilio account, picked up at the
terminal; and a caller holding in a queue who follows the desk's redirect."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Blueprint, Flask, Response, abort, request

from ivr.callbacks.dispatch import try_callback
from ivr.cli import main
from ivr.core.clock import FrozenClock
from ivr.desk.take import Agent, take_caller
from ivr.flows.engine import QUEUE_HOLD_PAUSE_S, FlowEngine
from ivr.models import Availability, Callback
from ivr.outbound.telephony import SimulatedTelephony
from ivr.registry.staff import set_availability
from ivr.sim.caller import ScriptedCaller, speaking_seconds
from ivr.sim.phone import PhoneCall
from ivr.sim.terminal import answer_from_terminal
from ivr.sim.transcript import Transcript
from ivr.sim.transport import FlaskTransport, HotlineAnswer
from ivr.voice.inbound import edge, public_url
from ivr.voice.twiml import SignatureChecker
from tests.conftest import API_TOKEN, AUTH_TOKEN, BASE_URL, services_of
from tests.records import stored

HOTLINE = "+8657112345678"
AGENT = "+8613900139000"
RESIDENT = "+8613800138000"
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
WHISPER = "您好，这里是物业客服中心，为您回电。"  # what the resident hears before the agent

# What the callback webhooks answer, as small as they can be: the agent's leg confirms the
# callback, then <Dial>s the resident, who hears a whisper before the two are connected.
PAGES = {
    "agent": '<Response><Gather numDigits="1" action="/test-calls/accept?cb=7">'
    '<Say language="cmn-CN">回电：1栋101室报修，按1接通。</Say></Gather><Hangup/></Response>',
    "accept": f'<Response><Dial action="/test-calls/dialled?cb=7" callerId="{HOTLINE}">'
    f'<Number url="/test-calls/whisper?cb=7">{RESIDENT}</Number></Dial></Response>',
    "whisper": f'<Response><Say language="cmn-CN">{WHISPER}</Say></Response>',
    "dialled": '<Response><Say language="cmn-CN">通话结束。</Say><Hangup/></Response>',
    "status": "<Response/>",
    "bridge": f'<Response><Dial action="/test-calls/bridged"><Number url="/test-calls/agent-whisper">'
    f"{AGENT}</Number></Dial></Response>",
    "agent-whisper": '<Response><Say language="cmn-CN">来电转接：已等待2分钟。</Say></Response>',
    "bridged": "<Response><Hangup/></Response>",
}


@dataclass(frozen=True)
class Received:
    """One webhook a test page received, after the hotline's own signature check."""

    page: str
    query: str
    form: dict[str, str]


@pytest.fixture
def received() -> list[Received]:
    return []


@pytest.fixture
def app(make_app: Callable[..., Flask], received: list[Received]) -> Flask:
    """The hotline without a Twilio account, plus test pages standing in for the callback
    and desk webhooks; they refuse what the hotline's signature check would refuse."""
    hotline = make_app(twilio_account_sid="")
    pages = Blueprint("test_calls", __name__, url_prefix="/test-calls")

    @pages.post("/<page>")
    def canned(page: str) -> Response:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not edge().signatures.is_genuine(public_url(), request.form, signature):
            abort(403)
        received.append(Received(page, request.query_string.decode(), dict(request.form)))
        return Response(PAGES[page], mimetype="text/xml")

    hotline.extensions["csrf"].exempt(pages)  # Twilio's requests carry a signature instead
    hotline.register_blueprint(pages)
    return hotline


@pytest.fixture
def telephony(app: Flask) -> SimulatedTelephony:
    found = services_of(app).telephony
    assert isinstance(found, SimulatedTelephony)
    return found


@pytest.fixture
def calls_file(app: Flask) -> Path:
    path: Path = services_of(app).settings.data_dir / "calls.jsonl"
    return path


def place_agent_call(telephony: SimulatedTelephony, to: str = AGENT) -> str:
    """What the callback worker does for an agent-first callback."""
    return telephony.place_call(
        to, f"{BASE_URL}/test-calls/agent?cb=7", f"{BASE_URL}/test-calls/status?cb=7"
    )


def answer(app: Flask, script: str, **options: Any) -> Any:
    return answer_from_terminal(
        BASE_URL,
        scripted=script,
        transport=FlaskTransport(app.test_client()),
        auth_token=AUTH_TOKEN,
        **options,
    )


def lines_of(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def status_reports(received: Sequence[Received]) -> list[tuple[str, str]]:
    return [
        (r.form["CallStatus"], r.form["SequenceNumber"]) for r in received if r.page == "status"
    ]


# --- answering a placed call ---------------------------------------------------------------


def test_answering_walks_the_callback_twiml_as_the_agent(
    app: Flask,
    telephony: SimulatedTelephony,
    received: list[Received],
    calls_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sid = place_agent_call(telephony)

    summary = answer(app, "1,a")

    assert (summary.call_sid, summary.ended_by, summary.problem) == (sid, "hotline", "")
    assert capsys.readouterr().out.splitlines() == [
        f"the hotline {HOTLINE} calls you at {AGENT} ({sid})",
        "you answer",
        "hotline: 回电：1栋101室报修，按1接通。",
        "you pressed 1",
        f"hotline dials {RESIDENT}",
        "the number answers",
        f"hotline to {RESIDENT}: {WHISPER}",
        "hotline: 通话结束。",
        "hotline hangs up",
        f"call ended after {summary.duration_s} s and {summary.requests} requests",
    ]
    assert [(r.page, r.query) for r in received] == [
        ("status", "cb=7"),
        ("status", "cb=7"),
        ("status", "cb=7"),
        ("agent", "cb=7"),
        ("accept", "cb=7"),
        ("whisper", "cb=7"),
        ("dialled", "cb=7"),
        ("status", "cb=7"),
    ]
    assert status_reports(received) == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    assert received[-1].form["CallDuration"] == str(summary.duration_s)
    agent_leg = received[3].form
    assert agent_leg == {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Called": AGENT,
        "Caller": HOTLINE,
        "Direction": "outbound-api",
        "From": HOTLINE,
        "To": AGENT,
    }
    assert received[4].form["Digits"] == "1"
    whisper, dialled = received[5].form, received[6].form
    assert CALL_SID.match(whisper["CallSid"])
    assert whisper["CallSid"] != sid
    assert (whisper["ParentCallSid"], whisper["Direction"]) == (sid, "outbound-dial")
    assert (whisper["From"], whisper["To"]) == (HOTLINE, RESIDENT)
    assert (dialled["CallSid"], dialled["DialCallSid"]) == (sid, whisper["CallSid"])
    assert (dialled["DialCallStatus"], dialled["DialCallDuration"]) == (
        "completed",
        str(speaking_seconds(WHISPER)),
    )
    assert lines_of(calls_file)[-1] == {
        "at": lines_of(calls_file)[-1]["at"],
        "sid": sid,
        "kind": "answered",
    }


def test_urls_without_a_host_are_the_hotlines_at_url(
    app: Flask, telephony: SimulatedTelephony, received: list[Received]
) -> None:
    """Without PUBLIC_BASE_URL the hotline has no public address to give Twilio."""
    telephony.place_call(AGENT, "/test-calls/agent?cb=7", "/test-calls/status?cb=7")

    summary = answer(app, "1,a")

    assert (summary.ended_by, summary.problem) == ("hotline", "")
    assert [r.page for r in received] == [
        *["status"] * 3,
        "agent",
        "accept",
        "whisper",
        "dialled",
        "status",
    ]


def test_n_at_the_dial_means_the_other_end_does_not_answer(
    app: Flask, telephony: SimulatedTelephony, received: list[Received]
) -> None:
    place_agent_call(telephony)

    summary = answer(app, "1,n")

    assert [r.page for r in received if r.page != "status"] == ["agent", "accept", "dialled"]
    dialled = received[-2].form
    assert dialled["DialCallStatus"] == "no-answer"
    assert "DialCallDuration" not in dialled
    assert summary.ended_by == "hotline"


def test_declining_reports_no_answer_and_fetches_no_twiml(
    app: Flask,
    telephony: SimulatedTelephony,
    received: list[Received],
    calls_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sid = place_agent_call(telephony)

    summary = answer(app, "", decline=True)

    assert capsys.readouterr().out.splitlines() == [
        f"the hotline {HOTLINE} calls you at {AGENT} ({sid})",
        "you let it ring: nobody answers",
    ]
    assert [r.page for r in received] == ["status"] * 3
    assert status_reports(received) == [("initiated", "0"), ("ringing", "1"), ("no-answer", "2")]
    assert received[-1].form["CallDuration"] == "0"
    assert (summary.ended_by, summary.requests, summary.problem) == ("declined", 0, "")
    assert lines_of(calls_file)[-1]["kind"] == "declined"


def test_each_answer_picks_the_oldest_call_nobody_picked_up(
    app: Flask, telephony: SimulatedTelephony
) -> None:
    first, second, third = (place_agent_call(telephony, to) for to in (AGENT, RESIDENT, AGENT))

    assert answer(app, "", decline=True).call_sid == first
    assert answer(app, "", decline=True, to=AGENT).call_sid == third
    assert answer(app, "", decline=True).call_sid == second


def test_a_given_call_is_answered_once(
    app: Flask, telephony: SimulatedTelephony, capsys: pytest.CaptureFixture[str]
) -> None:
    place_agent_call(telephony)
    wanted = place_agent_call(telephony)

    assert answer(app, "", decline=True, sid=wanted).call_sid == wanted
    again = answer(app, "", decline=True, sid=wanted)

    problem = f"call {wanted} was answered (or declined) already"
    assert (again.ended_by, again.problem) == ("error", problem)
    assert capsys.readouterr().err == f"nothing to answer: {problem}\n"


def test_answering_the_hotlines_own_webhooks_end_to_end(
    app: Flask,
    telephony: SimulatedTelephony,
    run_jobs: Callable[[], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A placed call whose TwiML is the main menu: signed for the hotline's real signature
    check, and its status callbacks reach the call log."""
    engine: FlowEngine = services_of(app).engine
    greeting = engine.catalogues["zh-CN"].render("main.greeting", engine.values).text
    sid = telephony.place_call(RESIDENT, f"{BASE_URL}/voice/incoming", f"{BASE_URL}/voice/status")

    summary = answer(app, "")

    assert summary.problem == ""
    assert capsys.readouterr().out.splitlines()[2] == f"hotline: {greeting}"
    run_jobs()
    response = app.test_client().get(
        f"/api/calls/{sid}", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    log = response.get_json()
    assert (log["status"], log["duration_s"]) == ("completed", summary.duration_s)


def test_nothing_to_answer_is_a_clear_message_and_exit_code_1(app: Flask) -> None:
    result = CliRunner().invoke(main, ["call", "--answer", "--url", BASE_URL])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "nothing to answer: no call from the hotline is waiting to be answered"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_to_and_decline_need_answer() -> None:
    result = CliRunner().invoke(main, ["call", "--decline"])

    assert result.exit_code == 2
    assert "--to and --decline go with --answer" in result.stderr


def test_bad_lines_in_the_calls_file_are_skipped_with_a_warning(
    app: Flask,
    telephony: SimulatedTelephony,
    calls_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls_file.parent.mkdir(parents=True, exist_ok=True)
    calls_file.write_text('not json\n{"kind": "call", "sid": "CA1"}\n', encoding="utf-8")
    sid = place_agent_call(telephony)

    summary = answer(app, "", decline=True)

    assert summary.call_sid == sid
    assert capsys.readouterr().err.splitlines() == [
        f"warning: skipped line 1 of {calls_file}: Expecting value: line 1 column 1 (char 0)",
        f"warning: skipped line 2 of {calls_file}: a call without a url",
    ]


# --- a caller in a queue, taken by the desk ------------------------------------------------


class RecordingTransport(FlaskTransport):
    """The app through Flask's test client, keeping every path and form posted."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app.test_client())
        self.posted: list[tuple[str, dict[str, str]]] = []

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        self.posted.append((urlsplit(url).path, dict(form)))
        return super().post(url, form, headers)


def inbound_call(
    app: Flask, script: str, sleep: Callable[[float], None], transport: RecordingTransport
) -> PhoneCall:
    return PhoneCall(
        BASE_URL,
        RESIDENT,
        transport,
        SignatureChecker(AUTH_TOKEN),
        ScriptedCaller.from_text(script),
        Transcript(),
        calls_file=services_of(app).telephony.calls,
        sleep=sleep,
    )


def test_a_caller_holding_in_the_queue_follows_the_desks_redirect(
    app: Flask, telephony: SimulatedTelephony, received: list[Received]
) -> None:
    transport = RecordingTransport(app)
    naps: list[float] = []

    def desk_takes_the_call(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 1:  # someone else's call first: not ours to follow
            telephony.redirect_call("CA" + "9" * 32, f"{BASE_URL}/test-calls/bridge")
        else:
            telephony.redirect_call(call.call_sid, f"{BASE_URL}/test-calls/bridge?q=general")

    call = inbound_call(app, "0,w,a", desk_takes_the_call, transport)
    call.run()

    assert naps == [1.0, 1.0]
    lines = call.transcript.lines
    assert lines[lines.index("you keep holding") :] == [
        "you keep holding",
        "the desk takes your call out of the queue",
        f"hotline dials {AGENT}",
        "the number answers",
        f"hotline to {AGENT}: 来电转接：已等待2分钟。",
        "hotline hangs up",
        f"call ended after {call.summary.duration_s} s and {call.summary.requests} requests",
    ]
    paths = [path for path, _ in transport.posted]
    assert paths[-5:] == [
        "/voice/queue/result",
        "/test-calls/bridge",
        "/test-calls/agent-whisper",
        "/test-calls/bridged",
        "/voice/status",
    ]
    left = transport.posted[-5][1]
    assert (left["QueueResult"], left["QueueTime"]) == ("redirected", "0")
    assert [(r.page, r.query) for r in received] == [
        ("bridge", "q=general"),
        ("agent-whisper", ""),
        ("bridged", ""),
    ]
    assert received[1].form["ParentCallSid"] == call.call_sid
    assert received[2].form["DialCallStatus"] == "completed"


def test_holding_plays_wait_rounds_until_the_longest_wait(
    app: Flask, heard_line: Callable[[str], str]
) -> None:
    transport = RecordingTransport(app)
    naps: list[float] = []

    call = inbound_call(app, "0,w", naps.append, transport)
    call.run()

    waits = [form["QueueTime"] for path, form in transport.posted if path == "/voice/queue/wait"]
    waited = [int(seconds) for seconds in waits]
    assert waited[0] == 0
    assert all(later - earlier > QUEUE_HOLD_PAUSE_S for earlier, later in pairwise(waited))
    assert waited[-2] < services_of(app).settings.queue_max_wait_s <= waited[-1]
    assert naps == [1.0] * waited[-1]  # a look at the desk every second of the wait
    assert heard_line("system.queue_sorry") in call.transcript.lines  # R8, past 30 s
    assert "hotline takes you out of the queue" in call.transcript.lines
    result = next(form for path, form in transport.posted if path == "/voice/queue/result")
    assert (result["QueueResult"], result["QueueTime"]) == ("leave", waits[-1])


def test_ctrl_c_while_holding_hangs_up(app: Flask) -> None:
    transport = RecordingTransport(app)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    call = inbound_call(app, "0,w", interrupted, transport)
    call.run()

    assert call.transcript.lines[-2] == "you hang up in the queue"
    result = next(form for path, form in transport.posted if path == "/voice/queue/result")
    assert result["QueueResult"] == "hangup"
    assert call.summary.ended_by == "caller"


@pytest.fixture
def heard_line(app: Flask, clock: FrozenClock) -> Callable[[str], str]:
    engine: FlowEngine = services_of(app).engine
    return lambda key: "hotline: " + engine.catalogues["zh-CN"].render(key, engine.values).text


def test_the_desks_take_call_moves_a_holding_caller_to_the_agents_phone(
    app: Flask,
    run_jobs: Callable[[], int],
    make_user: Callable[..., Any],
    heard_line: Callable[[str], str],
) -> None:
    """The whole path on one machine: the desk's "take call" redirects through the
    simulated telephony, and the phone holding in the queue follows to the bridge."""
    staff = make_user(phone=AGENT, display_name="王敏")
    transport = RecordingTransport(app)

    def desk_takes_the_call(seconds: float) -> None:
        run_jobs()  # the call log shows the caller waiting
        agent = Agent(staff.id, staff.display_name, staff.phone)
        take_caller(services_of(app), agent, call.call_sid, BASE_URL)

    call = inbound_call(app, "0,w,a", desk_takes_the_call, transport)
    call.run()

    lines = call.transcript.lines
    assert lines[lines.index("you keep holding") + 1 :] == [
        "the desk takes your call out of the queue",
        heard_line("desk.connecting"),
        f"hotline dials {AGENT}",
        "the number answers",
        heard_line("system.goodbye"),
        "hotline hangs up",
        f"call ended after {call.summary.duration_s} s and {call.summary.requests} requests",
    ]
    paths = [path for path, _ in transport.posted]
    assert paths[-4:] == [
        "/voice/queue/result",
        "/voice/desk/bridge",
        "/voice/desk/bridged",
        "/voice/status",
    ]


def test_an_agent_answers_a_callback_the_worker_placed(
    app: Flask,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    make_user: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The callback webhooks themselves: the worker places the agent-first call through the
    simulated telephony, and `--answer` plays the agent, then hears the resident's whisper."""
    staff = make_user(phone=AGENT)
    found = services_of(app)
    with found.db.session() as session:
        set_availability(session, staff.id, Availability.AVAILABLE)
    transport = RecordingTransport(app)
    inbound_call(app, "0,1", lambda seconds: None, transport).run()  # 1: call me back
    run_jobs()
    [callback] = stored(app, Callback)
    try_callback(
        found.db, found.telephony, found.settings, clock.now(), callback.id, on_request=True
    )
    transport.posted.clear()
    capsys.readouterr()

    summary = answer_from_terminal(
        BASE_URL, scripted="1,a", transport=transport, auth_token=AUTH_TOKEN
    )

    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [
        f"the hotline {HOTLINE} calls you at {AGENT} ({summary.call_sid})",
        "you answer",
    ]
    assert printed[printed.index("you pressed 1") :][2:4] == [
        f"hotline dials {RESIDENT}",
        "the number answers",
    ]
    assert [line for line in printed if line.startswith(f"hotline to {RESIDENT}: ")] != []
    assert printed[-2:] == [
        "hotline hangs up",
        f"call ended after {summary.duration_s} s and 4 requests",
    ]
    assert [(path, form["CallSid"], form["CallStatus"]) for path, form in transport.posted] == [
        ("/voice/callback/status", summary.call_sid, "initiated"),
        ("/voice/callback/status", summary.call_sid, "ringing"),
        ("/voice/callback/status", summary.call_sid, "in-progress"),
        ("/voice/callback/agent", summary.call_sid, "in-progress"),
        ("/voice/callback/accept", summary.call_sid, "in-progress"),
        ("/voice/callback/greet", transport.posted[5][1]["CallSid"], "in-progress"),
        ("/voice/callback/dialed", summary.call_sid, "in-progress"),
        ("/voice/callback/status", summary.call_sid, "completed"),
    ]
    assert transport.posted[5][1]["ParentCallSid"] == summary.call_sid
