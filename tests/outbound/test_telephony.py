"""The REST edge: the exact requests Twilio would receive, and its errors in our terms."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ivr.config import ConfigError, Settings
from ivr.core.clock import FrozenClock
from ivr.outbound.telephony import (
    REST_TIMEOUT_S,
    SIMULATED_ACCOUNT_SID,
    CallLineKind,
    RecordingHttpClient,
    SimulatedCall,
    SimulatedCallsFile,
    SimulatedTelephony,
    Telephony,
    TelephonyError,
    build_telephony,
    masked,
)
from tests.conftest import services_of

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "rest-auth-token"
HOTLINE = "+8657112345678"
RESIDENT = "+8613800138000"
API = "https://api.twilio.com/2010-04-01/Accounts"
CONFIRMATION = "【幸福家园物业】您的报修单 R-42 已受理，工程师将于4小时内上门。"


@pytest.fixture
def transport() -> RecordingHttpClient:
    return RecordingHttpClient()


@pytest.fixture
def telephony(transport: RecordingHttpClient) -> Telephony:
    return Telephony(ACCOUNT_SID, AUTH_TOKEN, HOTLINE, transport)


def test_an_sms_is_one_form_post_to_the_messages_resource(
    telephony: Telephony, transport: RecordingHttpClient
) -> None:
    sid = telephony.send_sms(RESIDENT, CONFIRMATION)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [request] = transport.requests
    assert request.method == "POST"
    assert request.url == f"{API}/{ACCOUNT_SID}/Messages.json"
    assert request.data == {"To": RESIDENT, "From": HOTLINE, "Body": CONFIRMATION}
    assert request.params == {}
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"


def test_each_sms_gets_its_own_sid(telephony: Telephony) -> None:
    first = telephony.send_sms(RESIDENT, "一")
    second = telephony.send_sms(RESIDENT, "二")

    assert first != second


def test_a_call_posts_its_twiml_url_and_status_callback(
    telephony: Telephony, transport: RecordingHttpClient
) -> None:
    sid = telephony.place_call(
        RESIDENT,
        "https://hotline.example.com/voice/callback",
        "https://hotline.example.com/voice/status",
    )

    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    [request] = transport.requests
    assert (request.method, request.url) == ("POST", f"{API}/{ACCOUNT_SID}/Calls.json")
    assert request.data == {
        "To": RESIDENT,
        "From": HOTLINE,
        "Url": "https://hotline.example.com/voice/callback",
        "Method": "POST",
        "StatusCallback": "https://hotline.example.com/voice/status",
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
    }
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),  # not a valid phone number
        (400, 21614, True),  # not a mobile number
        (400, 21610, True),  # the resident replied STOP
        (401, 20003, True),  # wrong credentials: retrying the same ones cannot help
        (429, 20429, False),  # too many requests
        (500, 20500, False),
        (503, 20503, False),
    ],
)
def test_twilio_errors_are_permanent_or_temporary(
    telephony: Telephony, transport: RecordingHttpClient, status: int, code: int, permanent: bool
) -> None:
    transport.fail_next(status, code, "The 'To' number is not valid")

    with pytest.raises(TelephonyError) as raised:
        telephony.send_sms(RESIDENT, CONFIRMATION)

    error = raised.value
    assert (error.permanent, error.code, error.maybe_sent) == (permanent, code, False)
    assert error.message == (
        f"Twilio error {code} (HTTP {status}): Unable to create record: The 'To' number is not valid"
    )


def _refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: urllib3's wrapped NewConnectionError.
    No real pool or connection is needed, only the exception's shape."""
    refused = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/Messages.json", refused))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make_error", "maybe_sent"),
    [
        (lambda: requests.ConnectTimeout("connect timed out"), False),
        (_refused, False),
        (lambda: requests.exceptions.SSLError("handshake failed"), False),
        (lambda: requests.ReadTimeout("read timed out"), True),
        (lambda: requests.ConnectionError("Connection aborted."), True),
    ],
)
def test_network_errors_are_temporary_and_say_whether_twilio_may_have_the_sms(
    telephony: Telephony,
    transport: RecordingHttpClient,
    make_error: Callable[[], requests.RequestException],
    maybe_sent: bool,
) -> None:
    transport.raise_next(make_error())

    with pytest.raises(TelephonyError) as raised:
        telephony.send_sms(RESIDENT, CONFIRMATION)

    assert (raised.value.permanent, raised.value.code) == (False, None)
    assert raised.value.maybe_sent is maybe_sent


def test_a_refusal_applies_to_the_next_request_only(
    telephony: Telephony, transport: RecordingHttpClient
) -> None:
    transport.fail_next(503, 20503)
    with pytest.raises(TelephonyError):
        telephony.send_sms(RESIDENT, CONFIRMATION)

    telephony.send_sms(RESIDENT, CONFIRMATION)

    assert len(transport.requests) == 2


def test_the_app_uses_the_configured_account(make_app: Callable[..., Flask]) -> None:
    app = make_app(twilio_account_sid=ACCOUNT_SID, hotline_number=HOTLINE)
    telephony = services_of(app).telephony

    telephony.send_sms(RESIDENT, CONFIRMATION)

    assert type(telephony) is Telephony
    [request] = telephony.http.requests
    assert request.url == f"{API}/{ACCOUNT_SID}/Messages.json"
    assert request.data["From"] == HOTLINE


def test_without_an_account_sms_goes_to_the_outbox_file_and_the_log(
    make_app: Callable[..., Flask], clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(twilio_account_sid="", hotline_number=HOTLINE)
    found = services_of(app)
    caplog.set_level(logging.INFO, logger="ivr.outbound.telephony")

    sid = found.telephony.send_sms(RESIDENT, CONFIRMATION)

    assert isinstance(found.telephony, SimulatedTelephony)
    outbox = found.settings.data_dir / "outbox.jsonl"
    [line] = outbox.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "at": clock.now().isoformat(),
        "sid": sid,
        "from": HOTLINE,
        "to": RESIDENT,
        "body": CONFIRMATION,
    }
    assert CONFIRMATION in line  # readable Chinese, not \\u escapes
    [request] = found.telephony.http.requests
    assert request.url == f"{API}/{SIMULATED_ACCOUNT_SID}/Messages.json"
    assert [r.getMessage() for r in caplog.records if r.name == "ivr.outbound.telephony"] == [
        f"simulated SMS {sid} to +86138****8000 (see {outbox}): {CONFIRMATION}"
    ]


def test_without_an_account_nothing_reaches_the_network(app: Flask, clock: FrozenClock) -> None:
    settings = services_of(app).settings.with_overrides(twilio_account_sid="")

    telephony = build_telephony(settings, clock)

    assert isinstance(telephony.http, RecordingHttpClient)


def test_with_an_account_the_real_transport_has_a_timeout(app: Flask, clock: FrozenClock) -> None:
    settings = services_of(app).settings.with_overrides(twilio_account_sid=ACCOUNT_SID)

    telephony = build_telephony(settings, clock)

    assert not isinstance(telephony.http, RecordingHttpClient)
    assert telephony.http.timeout == REST_TIMEOUT_S


def test_a_real_account_needs_the_public_url_for_the_calls_it_places(
    app: Flask, clock: FrozenClock
) -> None:
    settings = services_of(app).settings.with_overrides(
        twilio_account_sid=ACCOUNT_SID, public_base_url=""
    )

    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID needs PUBLIC_BASE_URL"):
        build_telephony(settings, clock)


def test_production_refuses_to_simulate_sms(app: Flask, clock: FrozenClock) -> None:
    settings: Settings = services_of(app).settings.with_overrides(
        env="production", twilio_account_sid=""
    )

    with pytest.raises(ConfigError, match="IVR_ENV=production needs TWILIO_ACCOUNT_SID"):
        build_telephony(settings, clock)


@pytest.mark.parametrize(
    ("number", "shown"),
    [("+8613800138000", "+86138****8000"), ("+15005550006", "+150****0006"), ("10086", "****")],
)
def test_numbers_in_log_lines_are_masked(number: str, shown: str) -> None:
    assert masked(number) == shown


# --- calls placed and redirected without an account: the calls file ----------------------


CALLBACK_URL = "https://hotline.example.com/voice/callback/agent?cb=7"
STATUS_URL = "https://hotline.example.com/voice/callback/status?cb=7"
BRIDGE_URL = "https://hotline.example.com/voice/desk/bridge?agent=3"


def test_without_an_account_placed_calls_and_redirects_go_to_the_calls_file(
    make_app: Callable[..., Flask], clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(twilio_account_sid="", hotline_number=HOTLINE)
    found = services_of(app)
    caplog.set_level(logging.INFO, logger="ivr.outbound.telephony")

    sid = found.telephony.place_call(RESIDENT, CALLBACK_URL, STATUS_URL)
    clock.advance(seconds=5)
    found.telephony.redirect_call("CA" + "2" * 32, BRIDGE_URL)

    calls = found.settings.data_dir / "calls.jsonl"
    assert [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()] == [
        {
            "at": "2026-11-23T10:00:00+08:00",
            "sid": sid,
            "kind": "call",
            "to": RESIDENT,
            "from": HOTLINE,
            "status_callback": STATUS_URL,
            "url": CALLBACK_URL,
        },
        {
            "at": "2026-11-23T10:00:05+08:00",
            "sid": "CA" + "2" * 32,
            "kind": "redirect",
            "url": BRIDGE_URL,
        },
    ]
    assert calls.stat().st_mode & 0o077 == 0  # residents' numbers: the owner's eyes only
    assert [request.url for request in found.telephony.http.requests] == [
        f"{API}/{SIMULATED_ACCOUNT_SID}/Calls.json",
        f"{API}/{SIMULATED_ACCOUNT_SID}/Calls/{'CA' + '2' * 32}.json",
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "ivr.outbound.telephony"] == [
        f"simulated call {sid} to +86138****8000 with TwiML from {CALLBACK_URL}"
        " (answer it with `ivr call --answer`)",
        f"simulated redirect of call {'CA' + '2' * 32} to {BRIDGE_URL}",
    ]


@pytest.fixture
def calls_file(tmp_path: Path) -> SimulatedCallsFile:
    return SimulatedCallsFile(tmp_path / "calls.jsonl")


def placed(sid: str) -> SimulatedCall:
    return SimulatedCall(
        CallLineKind.CALL, sid, "2026-11-23T10:00:00+08:00", RESIDENT, HOTLINE, CALLBACK_URL, ""
    )


def test_the_calls_file_reads_back_what_was_written(calls_file: SimulatedCallsFile) -> None:
    written = [
        placed("CA1"),
        SimulatedCall(CallLineKind.REDIRECT, "CA2", "2026-11-23T10:01:00+08:00", url=BRIDGE_URL),
        SimulatedCall(CallLineKind.ANSWERED, "CA1", "2026-11-23T02:02:00+00:00"),
    ]
    for line in written:
        calls_file.append(line)

    assert SimulatedCallsFile(calls_file.path).read_new() == written


def test_a_reader_gets_only_new_lines_and_waits_for_a_line_still_being_written(
    calls_file: SimulatedCallsFile,
) -> None:
    calls_file.append(placed("CA1"))
    reader = SimulatedCallsFile(calls_file.path)
    reader.skip_to_end()
    calls_file.append(placed("CA2"))
    with calls_file.path.open("a", encoding="utf-8") as unfinished:
        unfinished.write('{"kind": "call", "sid": "CA3"')

    assert [line.sid for line in reader.read_new()] == ["CA2"]
    assert reader.read_new() == []

    with calls_file.path.open("a", encoding="utf-8") as finished:
        finished.write(f', "url": "{CALLBACK_URL}"}}\n')
    assert [line.sid for line in reader.read_new()] == ["CA3"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "Expecting value: line 1 column 1 (char 0)"),
        (b'["CA1"]', "not a JSON object"),
        (b'{"kind": "sms", "sid": "CA1"}', "'sms' is not a valid CallLineKind"),
        (b'{"kind": "call", "sid": "CA1"}', "a call without a url"),
        (b'{"kind": "answered", "sid": ""}', "no sid"),
        (b'{"kind": "answered", "sid": 7}', "a field is not text"),
        (b'{"kind": "answered", "sid": "CA\xff"}', "'utf-8' codec can't decode byte 0xff"),
    ],
)
def test_a_broken_line_is_skipped_with_a_warning(
    calls_file: SimulatedCallsFile, line: bytes, problem: str
) -> None:
    calls_file.path.write_bytes(line + b"\n\n")
    calls_file.append(placed("CA9"))
    warnings: list[str] = []

    read = calls_file.read_new(warnings.append)

    assert [call.sid for call in read] == ["CA9"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"skipped line 1 of {calls_file.path}: {problem}")
