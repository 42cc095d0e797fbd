"""The REST edge: SMS and outbound calls through Twilio's REST API.

One of the two modules that import `twilio` (the other is `ivr.voice.twiml`). Twilio's
errors become `TelephonyError` here, so nothing else needs to know Twilio's codes.
Without a Twilio account (`ivr run` on a laptop) nothing leaves the machine: a
recording transport answers as Twilio would, each SMS goes to `outbox.jsonl`, and each
call placed or redirected goes to `calls.jsonl`, where `ivr call --answer` picks it up.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ivr.config import ConfigError, Settings
from ivr.core.clock import Clock

log = logging.getLogger(__name__)

TwilioTransport: TypeAlias = HttpClient  # what `create_app(telephony_http=...)` accepts

API_VERSION = "2010-04-01"
SIMULATED_ACCOUNT_SID = "AC" + "0" * 32  # Twilio-shaped, but no real account: nothing is billed
# Below the outbound job's timeout, so a hung Twilio raises here instead of killing the job.
REST_TIMEOUT_S = 10.0
CALL_PROGRESS_EVENTS = ["initiated", "ringing", "answered", "completed"]
OUTBOX_FILE = "outbox.jsonl"
CALLS_FILE = "calls.jsonl"


class TelephonyError(RuntimeError):
    """Twilio did not take the request.

    `permanent`: trying again cannot help (bad, unreachable or unsubscribed number).
    `maybe_sent`: Twilio may have taken it even so (no answer after the request went
    out), so sending again could send twice.
    """

    def __init__(
        self, message: str, permanent: bool, code: int | None = None, *, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.maybe_sent = maybe_sent


def _is_temporary(status: int) -> bool:
    """Rate limits and Twilio's own failures pass; any other 4xx (e.g. 21211 invalid
    number, 21614 not a mobile, 21610 unsubscribed) fails the same way every time."""
    return status == 429 or status >= 500


def _twilio_error(exc: TwilioException) -> TelephonyError:
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    if isinstance(exc, TwilioRestException):
        text = exc.msg
    elif isinstance(exc, TwilioServiceException):
        text = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
    else:  # raised before any request, e.g. missing credentials
        return TelephonyError(f"Twilio client: {exc}", permanent=True)
    permanent = not (isinstance(status, int) and _is_temporary(status))
    return TelephonyError(f"Twilio error {code} (HTTP {status}): {text}", permanent, code)


def _never_reached_twilio(exc: requests.RequestException) -> bool:
    """True when the connection failed before our request could have been sent."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _network_error(exc: requests.RequestException) -> TelephonyError:
    if _never_reached_twilio(exc):
        return TelephonyError(f"Twilio unreachable: {exc}", permanent=False)
    # A read timeout or a dropped connection after the request went out: Twilio
    # may have queued the SMS, so retrying could duplicate it.
    return TelephonyError(f"no answer from Twilio: {exc}", permanent=False, maybe_sent=True)


class Telephony:
    """Twilio's REST API, as the hotline uses it: send an SMS, place a call."""

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, http: TwilioTransport
    ) -> None:
        self.http = http
        self.from_number = from_number
        self._client = Client(account_sid, auth_token, http_client=http)

    def send_sms(self, to: str, body: str) -> str:
        """Hand one SMS to Twilio; returns its Message SID (SM…)."""
        message = self._call(self._client.messages.create, to=to, from_=self.from_number, body=body)
        return str(message.sid)

    def place_call(self, to: str, url: str, status_callback: str) -> str:
        """Ring `to` from the hotline; Twilio fetches TwiML from `url`. Returns the CallSid."""
        call = self._call(
            self._client.calls.create,
            to=to,
            from_=self.from_number,
            url=url,
            method="POST",
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_event=CALL_PROGRESS_EVENTS,
        )
        return str(call.sid)

    def redirect_call(self, call_sid: str, url: str) -> None:
        """Make a live call fetch its next TwiML from `url` (e.g. a caller waiting in a queue
        taken by an agent at the desk)."""
        self._call(self._client.calls(call_sid).update, url=url, method="POST")

    @staticmethod
    def _call(create: Any, **fields: Any) -> Any:
        try:
            return create(**fields)
        except TwilioException as exc:
            raise _twilio_error(exc) from exc
        except requests.RequestException as exc:
            raise _network_error(exc) from exc


class SimulatedTelephony(Telephony):
    """No Twilio account: requests go to a recording transport, each SMS is written to the
    outbox file and the log, so a property manager sees what would have gone out, and each
    call placed or redirected is written to the calls file, for `ivr call --answer`."""

    def __init__(
        self, auth_token: str, from_number: str, http: TwilioTransport, data_dir: Path, clock: Clock
    ) -> None:
        super().__init__(SIMULATED_ACCOUNT_SID, auth_token, from_number, http)
        self.outbox = data_dir / OUTBOX_FILE
        self.calls = SimulatedCallsFile(data_dir / CALLS_FILE)
        self._clock = clock

    def send_sms(self, to: str, body: str) -> str:
        sid = super().send_sms(to, body)
        line = {"at": self._now(), "sid": sid, "from": self.from_number}
        append_json_line(self.outbox, line | {"to": to, "body": body})
        log.info("simulated SMS %s to %s (see %s): %s", sid, masked(to), self.outbox, body)
        return sid

    def place_call(self, to: str, url: str, status_callback: str) -> str:
        sid = super().place_call(to, url, status_callback)
        placed = SimulatedCall(
            CallLineKind.CALL, sid, self._now(), to, self.from_number, url, status_callback
        )
        self.calls.append(placed)
        log.info(
            "simulated call %s to %s with TwiML from %s (answer it with `ivr call --answer`)",
            sid,
            masked(to),
            url,
        )
        return sid

    def redirect_call(self, call_sid: str, url: str) -> None:
        super().redirect_call(call_sid, url)
        self.calls.append(SimulatedCall(CallLineKind.REDIRECT, call_sid, self._now(), url=url))
        log.info("simulated redirect of call %s to %s", call_sid, url)

    def _now(self) -> str:
        return self._clock.now().isoformat()


def append_json_line(path: Path, line: Mapping[str, str]) -> None:
    """One line appended with a single write to a file opened for appending, so lines
    written at the same time by the web, the worker and `ivr call` never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    # Owner-only: the lines hold residents' phone numbers (R3).
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


class CallLineKind(StrEnum):
    """What a line of the calls file records."""

    CALL = "call"  # the hotline placed a call
    REDIRECT = "redirect"  # the hotline moved a live call to new TwiML
    ANSWERED = "answered"  # `ivr call --answer` picked the placed call up
    DECLINED = "declined"  # `ivr call --answer --decline` let it ring out


@dataclass(frozen=True)
class SimulatedCall:
    """One line of the calls file."""

    kind: CallLineKind
    sid: str
    at: str
    to: str = ""
    from_number: str = ""
    url: str = ""
    status_callback: str = ""

    def as_line(self) -> dict[str, str]:
        line = {"at": self.at, "sid": self.sid, "kind": self.kind.value}
        if self.kind == CallLineKind.CALL:
            line |= {
                "to": self.to,
                "from": self.from_number,
                "status_callback": self.status_callback,
            }
        if self.kind in {CallLineKind.CALL, CallLineKind.REDIRECT}:
            line["url"] = self.url
        return line

    @classmethod
    def from_line(cls, text: str) -> SimulatedCall:
        """Raises ValueError for anything but a JSON object with a known kind and a CallSid."""
        line = json.loads(text)
        if not isinstance(line, dict):
            raise ValueError("not a JSON object")
        kind = CallLineKind(str(line.get("kind", "")))
        names = ("sid", "at", "to", "from", "url", "status_callback")
        fields = {name: line.get(name, "") for name in names}
        if not all(isinstance(value, str) for value in fields.values()):
            raise ValueError("a field is not text")
        if not fields["sid"]:
            raise ValueError("no sid")
        if kind in {CallLineKind.CALL, CallLineKind.REDIRECT} and not fields["url"]:
            raise ValueError(f"a {kind.value} without a url")
        from_number = fields.pop("from")
        return cls(kind, **fields, from_number=from_number)


BadLine = Callable[[str], None]  # told, in words, about a line that was skipped


class SimulatedCallsFile:
    """`calls.jsonl`: appended to by several processes, read by `ivr call`. A reader can
    keep its place and read only the lines added since, so watching it stays cheap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._line_number = 0

    def append(self, call: SimulatedCall) -> None:
        append_json_line(self.path, call.as_line())

    def skip_to_end(self) -> None:
        """From now on, read only what is added after this moment."""
        self._line_number += self._read_complete_lines().count(b"\n")

    def read_new(self, bad_line: BadLine = log.warning) -> list[SimulatedCall]:
        """Every complete line added since the last read; a line still being written waits
        for the next read, and a broken one is skipped with a word to `bad_line`."""
        lines = self._read_complete_lines().splitlines()
        return [call for raw in lines if (call := self._parse(raw, bad_line))]

    def _read_complete_lines(self) -> bytes:
        try:
            with self.path.open("rb") as calls:
                calls.seek(self._offset)
                chunk = calls.read()
        except FileNotFoundError:
            return b""
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return complete

    def _parse(self, raw: bytes, bad_line: BadLine) -> SimulatedCall | None:
        self._line_number += 1
        if not raw.strip():
            return None
        try:
            return SimulatedCall.from_line(raw.decode("utf-8"))
        except ValueError as problem:  # also bad JSON and bad UTF-8
            bad_line(f"skipped line {self._line_number} of {self.path}: {problem}")
            return None


def masked(number: str) -> str:
    """A phone number fit for a log line: residents' numbers are confidential (R3)."""
    return number[:-8] + "****" + number[-4:] if len(number) > 8 else "****"


def build_telephony(
    settings: Settings, clock: Clock, http: TwilioTransport | None = None
) -> Telephony:
    """The real REST client when an account is configured, else the simulated one."""
    if settings.is_production and not settings.twilio_account_sid:
        # A simulated backend in production would drop every SMS without a word (R9).
        raise ConfigError("IVR_ENV=production needs TWILIO_ACCOUNT_SID to send SMS")
    if not settings.twilio_account_sid:
        transport = http or RecordingHttpClient()
        return SimulatedTelephony(
            settings.twilio_auth_token, settings.hotline_number, transport, settings.data_dir, clock
        )
    if not settings.public_base_url:
        # Twilio fetches the TwiML of the calls we place (callbacks, surveys) from full URLs.
        raise ConfigError("TWILIO_ACCOUNT_SID needs PUBLIC_BASE_URL to place callback calls")
    transport = http or TwilioHttpClient(timeout=REST_TIMEOUT_S)
    return Telephony(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.hotline_number, transport
    )


@dataclass(frozen=True)
class RecordedRequest:
    """One request exactly as Twilio would have received it."""

    method: str
    url: str
    params: dict[str, Any]
    data: dict[str, Any]
    headers: dict[str, str]
    auth: tuple[str, str] | None


@dataclass(frozen=True)
class _CannedError:
    status: int
    code: int | None
    message: str


class RecordingHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """A transport that never touches the network: it records each request and answers
    as Twilio would (a queued Message or Call), or with the error it was told to give."""

    def __init__(self) -> None:
        super().__init__(log, is_async=False)
        self.requests: list[RecordedRequest] = []
        self._next: deque[_CannedError | Exception] = deque()

    def fail_next(self, status: int, code: int | None = None, message: str = "") -> None:
        """The next request gets this HTTP status and Twilio error body."""
        self._next.append(_CannedError(status, code, message or f"Twilio error {code}"))

    def raise_next(self, error: Exception) -> None:
        """The next request raises this, as a broken network would (e.g. requests.ReadTimeout)."""
        self._next.append(error)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        recorded = RecordedRequest(
            method.upper(), uri, dict(params or {}), dict(data or {}), dict(headers or {}), auth
        )
        self.requests.append(recorded)
        canned = self._next.popleft() if self._next else None
        if isinstance(canned, Exception):
            raise canned
        if canned is not None:
            return _error_response(canned)
        return _created_response(recorded)


def _error_response(error: _CannedError) -> Response:
    body = {
        "code": error.code,
        "message": error.message,
        "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
        "status": error.status,
    }
    return Response(error.status, json.dumps(body))


def _created_response(request: RecordedRequest) -> Response:
    account_sid = request.url.split("/Accounts/", 1)[-1].split("/", 1)[0]
    if request.method == "POST" and request.url.endswith("/Messages.json"):
        return Response(201, json.dumps(_message_resource(account_sid, request.data)))
    if request.method == "POST" and request.url.endswith("/Calls.json"):
        return Response(201, json.dumps(_call_resource(account_sid, request.data)))
    if request.method == "POST" and "/Calls/CA" in request.url:  # an update to a live call
        call_sid = request.url.rsplit("/", 1)[-1].removesuffix(".json")
        updated = _call_resource(account_sid, request.data) | {"sid": call_sid}
        return Response(200, json.dumps(updated | {"status": "in-progress"}))
    missing = _CannedError(404, 20404, f"The requested resource {request.url} was not found")
    return _error_response(missing)


def _resource_base(prefix: str, account_sid: str, data: dict[str, Any]) -> dict[str, Any]:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": prefix + secrets.token_hex(16),
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "to": data.get("To"),
        "from": data.get("From"),
        "status": "queued",
        "date_created": now,
        "date_updated": now,
    }


def _message_resource(account_sid: str, data: dict[str, Any]) -> dict[str, Any]:
    message = _resource_base("SM", account_sid, data)
    return message | {
        "body": data.get("Body"),
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": "0",
        "error_code": None,
        "error_message": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message['sid']}.json",
    }


def _call_resource(account_sid: str, data: dict[str, Any]) -> dict[str, Any]:
    call = _resource_base("CA", account_sid, data)
    return call | {
        "direction": "outbound-api",
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call['sid']}.json",
    }
