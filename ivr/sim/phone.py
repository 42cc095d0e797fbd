"""`ivr call`: phone a hotline from the terminal, as Twilio would, with no Twilio account.

`PhoneCall` plays Twilio's part of a call: it posts signed, Twilio-shaped webhooks,
runs the TwiML that comes back verb by verb, and asks the caller (a person at the
keyboard, or a script) what they do at each <Gather>, <Record>, <Enqueue> and <Dial>.
`AnsweredCall` is the other direction (`ivr call --answer`): a call the hotline placed
through the simulated telephony backend, picked up at the terminal. Both watch the
backend's calls file, so a caller waiting in a queue follows the desk's redirect.
The hotline is reached over HTTP, or through a Flask test client in tests.
"""

from __future__ import annotations

import math
import secrets
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Protocol, TextIO
from urllib.parse import urljoin, urlsplit

import requests
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from ivr.core.clock import Clock, SystemClock
from ivr.outbound.telephony import CALLS_FILE, CallLineKind, SimulatedCall, SimulatedCallsFile
from ivr.voice.twiml import SignatureChecker

ACCOUNT_SID = "AC" + "0" * 32  # Twilio-shaped, but no real account: nothing here is billed
API_VERSION = "2010-04-01"
DEFAULT_HOTLINE_NUMBER = "+8657112345678"  # HOTLINE_NUMBER's default in ivr.config
MAX_REQUESTS_PER_CALL = 100  # a flow that redirects forever must not hang the terminal
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 15.0  # Twilio gives up on a webhook after 15 s and tries the Fallback URL
KEYPAD = frozenset("0123456789*#")
SPEECH_CONFIDENCE = "0.9"
CJK_CHARS_PER_S = 4  # rough speaking rates, so CallDuration and RecordingDuration look real
OTHER_CHARS_PER_S = 15
HOLD_QUEUE_SIZE = "1"
DESK_POLL_S = 1.0  # while holding, how often the phone looks for the desk taking the call
DEFAULT_HOLD_ROUND_S = 30  # Twilio's own hold music, when the queue has no waitUrl
MAX_HOLD_S = 3600  # a caller left holding with nothing to end the wait gives up after this

GATHER_HINT = "press a key (0-9 * #), type words to speak, or Enter for silence"
RECORD_HINT = "type your message after the beep, or Enter to leave none"
QUEUE_HINT = (
    "what happens? a = an agent answers (Enter), w = you keep holding (the desk may take"
    " the call), l = you leave the queue, h = you hang up"
)
QUEUE_CHOICE_HINT = QUEUE_HINT + ", 1 = call me back keeping my place, 2 = leave a message"
DIAL_HINT = "does the number answer? a = answered (Enter), n = no answer"

# The caller's choice in a queue, as Twilio reports it in QueueResult.
QUEUE_RESULTS = {"": "bridged", "a": "bridged", "agent": "bridged", "l": "leave", "leave": "leave"}
QUEUE_RESULTS |= {"h": "hangup", "hangup": "hangup"}
# Keys the caller may press during the wait music, when it offers them.
QUEUE_KEYS = {"1": "1", "2": "2"}
KEEP_HOLDING = {"w": "wait", "wait": "wait"}
HOLD_ENDINGS = {"leave": "hotline takes you out of the queue", "hangup": "hotline hangs up"}
QUEUE_NOTES = {
    "bridged": "an agent answers",
    "redirected": "the desk takes your call out of the queue",
    "leave": "you leave the queue",
    "hangup": "you hang up in the queue",
}
DIAL_RESULTS = {"": "completed", "a": "completed", "answered": "completed"}
DIAL_RESULTS |= {"n": "no-answer", "no": "no-answer", "no-answer": "no-answer"}
DIAL_NOTES = {"completed": "the number answers", "no-answer": "nobody answers"}


class HotlineError(RuntimeError):
    """The call could not go on; the message says what to do about it."""


class HotlineUnreachableError(HotlineError):
    """Nothing answered at the hotline's URL."""


class HotlineRefusedError(HotlineError):
    """The hotline answered with an HTTP error (403: the signature did not match)."""


class NothingToAnswerError(HotlineError):
    """`ivr call --answer` found no call from the hotline waiting to be picked up."""


# --- TwiML as the hotline sent it ---------------------------------------------------------


@dataclass(frozen=True)
class TwimlVerb:
    tag: str
    attrs: Mapping[str, str]
    text: str = ""
    children: tuple[TwimlVerb, ...] = ()

    def attr_int(self, name: str, default: int) -> int:
        try:
            return int(self.attrs.get(name, default))
        except ValueError:
            return default


def parse_twiml(body: bytes | str) -> list[TwimlVerb]:
    try:
        # Only the hotline the user chose to call answers here, and Python's expat
        # refuses entity-expansion bombs, so the stdlib parser is safe enough.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise HotlineError(f"the hotline did not answer with TwiML: {exc}") from exc
    if root.tag != "Response":
        raise HotlineError(f"the hotline answered <{root.tag}>, not a TwiML <Response>")
    return [_twiml_verb(element) for element in root]


def _twiml_verb(element: ET.Element) -> TwimlVerb:
    children = tuple(_twiml_verb(child) for child in element)
    return TwimlVerb(element.tag, dict(element.attrib), (element.text or "").strip(), children)


# --- transports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HotlineAnswer:
    status: int
    body: bytes


class Transport(Protocol):
    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer: ...


class HttpTransport:
    """A hotline running somewhere reachable, e.g. `ivr run` on this machine."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()

    def close(self) -> None:
        self.session.close()

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        try:
            response = self.session.post(
                url,
                data=list(form),
                headers=dict(headers),
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                allow_redirects=False,  # Twilio does not follow a webhook's redirects either
            )
        except requests.ConnectionError as exc:
            raise HotlineUnreachableError(
                f"nothing answers at {_origin(url)}: is the hotline running?"
                " Start it with `ivr run`, or point --url at it."
            ) from exc
        except requests.Timeout as exc:
            raise HotlineUnreachableError(
                f"{url} did not answer within {READ_TIMEOUT_S:g} s; Twilio would give up too"
            ) from exc
        except requests.RequestException as exc:
            raise HotlineError(f"cannot call {url}: {exc}") from exc
        return HotlineAnswer(response.status_code, response.content)


class FlaskTransport:
    """The hotline app in this process, through Flask's test client (for tests)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        # A full URL keeps the scheme and host, so request.url is what we signed.
        response = self.client.post(url, data=MultiDict(list(form)), headers=dict(headers))
        return HotlineAnswer(response.status_code, response.get_data())


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL; empty for a relative one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# --- the caller ---------------------------------------------------------------------------


class CallerInput(Protocol):
    def answer(self, hint: str) -> str | None:
        """What the caller does next; None once they have hung up."""
        ...


class KeyboardCaller:
    """A person at the terminal; end of input or Ctrl-C hangs up."""

    def __init__(self, read_line: Callable[[str], str] = input) -> None:
        self.read_line = read_line

    def answer(self, hint: str) -> str | None:
        try:
            return self.read_line(f"  [{hint}] > ").strip()
        except (EOFError, KeyboardInterrupt):
            return None


class ScriptedCaller:
    """Answers given in advance (`--press '1,,我家漏水了'`); hangs up when they run out."""

    def __init__(self, answers: Iterable[str]) -> None:
        self.remaining = [answer.strip() for answer in answers]

    @classmethod
    def from_text(cls, text: str) -> ScriptedCaller:
        # Only the ASCII comma separates: a spoken sentence may hold a Chinese "，".
        return cls(text.split(","))

    def answer(self, hint: str) -> str | None:
        return self.remaining.pop(0) if self.remaining else None


@dataclass(frozen=True)
class GatherReply:
    """What Twilio would report from a <Gather>: keys, words, or nothing."""

    digits: str = ""
    speech: str = ""
    dropped_keys: str = ""

    @property
    def is_silence(self) -> bool:
        return not (self.digits or self.speech)

    def as_params(self) -> list[tuple[str, str]]:
        if self.digits:
            return [("Digits", self.digits)]
        if self.speech:
            return [("SpeechResult", self.speech), ("Confidence", SPEECH_CONFIDENCE)]
        return []


def read_gather_reply(
    answer: str, num_digits: int | None = None, finish_on_key: str = "#", accepts: str = "dtmf"
) -> GatherReply:
    """Turn a typed answer into keys or speech, with Twilio's rules for this <Gather>."""
    answer = answer.strip()
    keys = "".join(answer.split())
    if keys and set(keys) <= KEYPAD:
        pressed = "dtmf" in accepts  # a <Gather input="speech"> does not hear the keypad
        return _keys_pressed(keys, num_digits, finish_on_key) if pressed else GatherReply()
    heard = answer and "speech" in accepts
    return GatherReply(speech=answer) if heard else GatherReply()


def _keys_pressed(keys: str, num_digits: int | None, finish_on_key: str) -> GatherReply:
    # Twilio stops at the finish key (and does not report it), or after numDigits keys.
    if finish_on_key and finish_on_key in keys:
        keys = keys[: keys.index(finish_on_key)]
    taken = keys[:num_digits] if num_digits else keys
    return GatherReply(digits=taken, dropped_keys=keys[len(taken) :])


def speaking_seconds(text: str) -> int:
    """About how long it takes to say this text aloud (at least a second)."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    return max(1, math.ceil(cjk / CJK_CHARS_PER_S + (len(text) - cjk) / OTHER_CHARS_PER_S))


# --- the transcript and the loudspeaker ---------------------------------------------------

Speaker = Callable[[str, str], None]  # (text, TwiML language) -> spoken aloud


def espeak_voice(language: str) -> str:
    return "cmn" if language.lower().startswith(("zh", "cmn")) else "en-us"


def find_espeak() -> Speaker | None:
    """espeak-ng as a Speaker, or None when it is not installed (then we only print)."""
    program = shutil.which("espeak-ng")
    if program is None:
        return None

    def speak(text: str, language: str) -> None:
        subprocess.run([program, "-v", espeak_voice(language), text], check=False)

    return speak


class Transcript:
    """What the caller hears and does, one line each, printed as it happens."""

    def __init__(self, out: TextIO | None = None, speaker: Speaker | None = None) -> None:
        self.out = out
        self.speaker = speaker
        self.lines: list[str] = []

    def note(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out or sys.stdout, flush=True)

    def hotline_says(self, text: str, language: str, to: str = "") -> None:
        """What the hotline says to the caller, or `to` the other end of a <Dial>."""
        self.note(f"hotline to {to}: {text}" if to else f"hotline: {text}")
        if self.speaker and text:
            self.speaker(text, language)


# --- the call -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    params: Sequence[tuple[str, str]] = ()


class _CallOver(Exception):  # noqa: N818 - a hang-up is how calls end, not an error
    """Someone hung up: the rest of the TwiML does not matter any more."""

    def __init__(self, ended_by: str) -> None:
        super().__init__(ended_by)
        self.ended_by = ended_by


@dataclass
class CallSummary:
    call_sid: str
    requests: int = 0
    duration_s: int = 0
    ended_by: str = ""  # hotline | caller | declined | end of TwiML | request limit | error
    problem: str = ""
    recordings: list[str] = field(default_factory=list)


@dataclass
class _Hold:
    """One stay in a queue, as Twilio keeps track of it."""

    queue_sid: str
    wait_url: str | None
    waited_s: int = 0
    round_s: int = DEFAULT_HOLD_ROUND_S  # how long the current round of wait music lasts
    keys_url: str | None = None  # where keys pressed during the music go, if it offers any
    ended: str | None = None  # the wait music ended the wait: "leave" or "hangup"
    gave_up: bool = False  # the caller hung up while holding
    redirect_url: str | None = None  # the desk took the call out of the queue


class PhoneCall:
    """One inbound call to the hotline, with Twilio's behaviour played by this process.

    With `calls_file` (the simulated telephony backend's), a caller who keeps holding in
    a queue is moved wherever the desk redirects the call."""

    def __init__(
        self,
        url: str,
        caller: str,
        transport: Transport,
        signer: SignatureChecker,
        caller_input: CallerInput,
        transcript: Transcript,
        public_url: str | None = None,
        hotline_number: str = DEFAULT_HOTLINE_NUMBER,
        account_sid: str = ACCOUNT_SID,
        calls_file: SimulatedCallsFile | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.public_url = (public_url or "").rstrip("/")
        self.caller = caller
        self.hotline_number = hotline_number
        # The parties as Twilio names them in every webhook of this call.
        self.from_number, self.to_number, self.direction = caller, hotline_number, "inbound"
        self.account_sid = account_sid
        self.transport = transport
        self.signer = signer
        self.caller_input = caller_input
        self.transcript = transcript
        self.calls_file = calls_file
        self.sleep = sleep
        self.summary = CallSummary(call_sid=new_sid("CA"))
        self.airtime_s = 0
        self._status_sequence = 0
        self._verbs: dict[str, Callable[[TwimlVerb, str], WebhookRequest | None]] = {
            "Say": self._say,
            "Play": self._play,
            "Pause": self._pause,
            "Gather": self._gather,
            "Redirect": self._redirect,
            "Record": self._record,
            "Enqueue": self._enqueue,
            "Dial": self._dial,
            "Hangup": self._hangup,
            "Reject": self._hangup,
        }

    @property
    def call_sid(self) -> str:
        return self.summary.call_sid

    def run(self) -> CallSummary:
        """Ring the hotline, follow its TwiML until someone hangs up, then report the status."""
        self.transcript.note(f"calling {self.base_url} from {self.caller} ({self.call_sid})")
        if self.calls_file is not None:
            self.calls_file.skip_to_end()  # only a redirect made during this call can be ours
        return self._follow(WebhookRequest(self._absolute("/voice/incoming")))

    def _follow(self, request: WebhookRequest | None) -> CallSummary:
        """Run TwiML from `request` on until someone hangs up, then report the call completed."""
        try:
            while request is not None:
                request = self._execute(request.url, self._fetch(request))
            self.summary.ended_by = "end of TwiML"
            self.transcript.note("the hotline's TwiML ran out, so Twilio hangs up")
        except _CallOver as over:
            self.summary.ended_by = over.ended_by
        self._report_completed()
        return self.summary

    # --- talking to the hotline -----------------------------------------------------

    def _fetch(
        self, request: WebhookRequest, leg: Sequence[tuple[str, str]] | None = None
    ) -> list[TwimlVerb]:
        """Post a webhook for this call (or for `leg`, another call of it) and parse the TwiML."""
        if self.summary.requests >= MAX_REQUESTS_PER_CALL:
            self.transcript.note(
                f"stopping: {MAX_REQUESTS_PER_CALL} requests on one call; does the flow loop?"
            )
            raise _CallOver("request limit")
        if leg is None:
            leg = self._call_params(self._webhook_status())
        self.summary.requests += 1
        return parse_twiml(self._post(request.url, [*leg, *request.params]))

    def _webhook_status(self) -> str:
        """CallStatus as Twilio reports it: ringing while it fetches the first TwiML."""
        return "ringing" if self.summary.requests == 0 else "in-progress"

    def _post(self, url: str, form: list[tuple[str, str]]) -> bytes:
        url = self._reachable(url)
        signature = self.signer.sign(self._signed_url(url), form)
        answer = self.transport.post(url, form, {"X-Twilio-Signature": signature})
        if answer.status == 403:
            raise HotlineRefusedError(
                f"the hotline refused our signature on {url} (403): use the server's"
                " TWILIO_AUTH_TOKEN (or run from its folder, for the development token), and"
                " --public-url with its PUBLIC_BASE_URL if it has one"
            )
        if not 200 <= answer.status < 300:
            raise HotlineRefusedError(f"the hotline answered {url} with HTTP {answer.status}")
        return answer.body

    def _reachable(self, url: str) -> str:
        """Where this terminal reaches a hotline URL: Twilio calls it at its public URL,
        which may not be reachable from here, so that part becomes --url (as does the
        missing part of a URL the hotline wrote without one)."""
        if not urlsplit(url).scheme:
            return urljoin(self.base_url + "/", url)
        public = self.public_url
        if public and (url == public or url.startswith(public + "/")):
            return self.base_url + url[len(public) :]
        return url

    def _signed_url(self, url: str) -> str:
        """The URL the server checks: its PUBLIC_BASE_URL plus path and query, if it has one."""
        if not self.public_url:
            return url
        parts = urlsplit(url)
        return f"{self.public_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _absolute(self, path: str) -> str:
        return self.base_url + path

    def _call_params(self, status: str) -> list[tuple[str, str]]:
        """The parameters Twilio posts with every voice webhook of this call."""
        return [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", self.call_sid),
            ("CallStatus", status),
            ("Called", self.to_number),
            ("Caller", self.from_number),
            ("Direction", self.direction),
            ("From", self.from_number),
            ("To", self.to_number),
        ]

    def _status_callback(self) -> str | None:
        """Where Twilio reports this call's status: the number's status callback URL."""
        return self._absolute("/voice/status")

    def _report_status(self, status: str, extra: Sequence[tuple[str, str]] = ()) -> None:
        url = self._status_callback()
        if url is None:
            return
        form = [
            *self._call_params(status),
            *extra,
            ("SequenceNumber", str(self._status_sequence)),
            ("Timestamp", formatdate(usegmt=True)),
            ("CallbackSource", "call-progress-events"),
        ]
        self._status_sequence += 1
        self._post(url, form)

    def _report_completed(self) -> None:
        """Twilio's status callback once the line is down; it is sent whatever the flow did."""
        self.summary.duration_s = max(1, self.airtime_s)
        self._report_status("completed", [("CallDuration", str(self.summary.duration_s))])
        self.transcript.note(
            f"call ended after {self.summary.duration_s} s and {self.summary.requests} requests"
        )

    # --- running TwiML ---------------------------------------------------------------

    def _execute(self, document_url: str, verbs: list[TwimlVerb]) -> WebhookRequest | None:
        """Run a document's verbs in order; the first one that fetches new TwiML ends it."""
        for verb in verbs:
            run_verb = self._verbs.get(verb.tag, self._unsupported)
            request = run_verb(verb, document_url)
            if request is not None:
                return request
        return None

    def _say(self, verb: TwimlVerb, document_url: str) -> None:
        self.airtime_s += speaking_seconds(verb.text)
        self.transcript.hotline_says(verb.text, verb.attrs.get("language", "en-US"))

    def _play(self, verb: TwimlVerb, document_url: str) -> None:
        self.airtime_s += 1
        self.transcript.note(f"hotline plays {urljoin(document_url, verb.text)}")

    def _pause(self, verb: TwimlVerb, document_url: str) -> None:
        seconds = verb.attr_int("length", 1)
        self.airtime_s += seconds
        self.transcript.note(f"hotline pauses {seconds} s")  # printed, never slept

    def _speak_all(self, verbs: Iterable[TwimlVerb], document_url: str) -> None:
        for verb in verbs:
            if verb.tag in {"Say", "Play", "Pause"}:
                self._verbs[verb.tag](verb, document_url)
            else:
                self._unsupported(verb, document_url)

    def _gather(self, verb: TwimlVerb, document_url: str) -> WebhookRequest | None:
        self._speak_all(verb.children, document_url)
        reply = read_gather_reply(
            self._ask(GATHER_HINT),
            verb.attr_int("numDigits", 0) or None,
            verb.attrs.get("finishOnKey", "#"),
            verb.attrs.get("input", "dtmf"),
        )
        self._note_reply(reply)
        if reply.is_silence:
            self.airtime_s += verb.attr_int("timeout", 5)
            if verb.attrs.get("actionOnEmptyResult") != "true":
                return None  # Twilio falls through to the next verb
        return WebhookRequest(self._action(verb, document_url), reply.as_params())

    def _note_reply(self, reply: GatherReply) -> None:
        if reply.digits:
            dropped = f" (keys {reply.dropped_keys} not taken)" if reply.dropped_keys else ""
            self.transcript.note(f"you pressed {reply.digits}{dropped}")
        elif reply.speech:
            self.airtime_s += speaking_seconds(reply.speech)
            self.transcript.note(f"you said {reply.speech}")
        else:
            self.transcript.note("you stay silent")

    def _redirect(self, verb: TwimlVerb, document_url: str) -> WebhookRequest:
        return WebhookRequest(urljoin(document_url, verb.text))

    def _record(self, verb: TwimlVerb, document_url: str) -> WebhookRequest | None:
        self.transcript.note("hotline records your message after the beep")
        message = self._ask(RECORD_HINT)
        if not message:
            self.transcript.note("you leave no message")
            return None  # Twilio skips the action when it recorded nothing
        self.transcript.note(f"you leave a message: {message}")
        duration = min(speaking_seconds(message), verb.attr_int("maxLength", 3600))
        self.airtime_s += duration
        sid = new_sid("RE")
        url = f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"
        self.summary.recordings.append(url)
        params = [
            ("RecordingUrl", url),
            ("RecordingSid", sid),
            ("RecordingDuration", str(duration)),
        ]
        return WebhookRequest(self._action(verb, document_url), params)

    def _enqueue(self, verb: TwimlVerb, document_url: str) -> WebhookRequest | None:
        wait_url = verb.attrs.get("waitUrl")
        hold = _Hold(new_sid("QU"), urljoin(document_url, wait_url) if wait_url else None)
        self.transcript.note(f"hotline puts you in the {verb.text} queue")
        self._hold_round(hold)
        result = self._queue_result(hold)
        if hold.redirect_url is not None:
            return self._taken_by_desk(verb, document_url, hold, hold.redirect_url)
        if hold.ended is None:  # the hotline's own <Leave> or <Hangup> was noted as it came
            self.transcript.note(QUEUE_NOTES[result])
        params = self._queue_params(hold, result)
        return self._after_leaving(verb, document_url, params, caller_gone=result == "hangup")

    def _queue_result(self, hold: _Hold) -> str:
        """What ends the wait, as Twilio's QueueResult: the caller's choice, the wait music
        (<Leave>, <Hangup>), or the desk redirecting the call."""
        while hold.ended is None:
            if self._desk_took(hold):
                return "redirected"
            if hold.gave_up:
                return "hangup"
            keys = QUEUE_KEYS if hold.keys_url else {}
            choices = {**QUEUE_RESULTS, **KEEP_HOLDING, **keys}
            result = self._choose(QUEUE_CHOICE_HINT if keys else QUEUE_HINT, choices) or "hangup"
            if result == "wait":
                self._keep_holding(hold)
            elif result in keys and hold.keys_url:
                return self._press_while_waiting(hold, result)
            else:
                return result
        return hold.ended

    def _queue_params(self, hold: _Hold, result: str) -> list[tuple[str, str]]:
        return [
            ("QueueResult", result),
            ("QueueSid", hold.queue_sid),
            ("QueueTime", str(hold.waited_s)),
        ]

    def _hold_round(self, hold: _Hold) -> None:
        """One round of wait music: Twilio fetches the waitUrl with the time waited so far,
        plays it, and fetches the next round when it ends."""
        if hold.wait_url is None:
            return  # Twilio's own music: nothing from the hotline to hear
        heard_from, gather_s = self.airtime_s, 0
        for verb in self._fetch(WebhookRequest(hold.wait_url, self._hold_params(hold))):
            if verb.tag == "Gather":
                self._speak_all(verb.children, hold.wait_url)
                hold.keys_url = self._action(verb, hold.wait_url)
                gather_s = verb.attr_int("timeout", 5)
            elif verb.tag in {"Leave", "Hangup"}:
                hold.ended = "leave" if verb.tag == "Leave" else "hangup"
                self.transcript.note(HOLD_ENDINGS[hold.ended])
                return
            else:
                self._speak_all([verb], hold.wait_url)
        hold.round_s = max(1, self.airtime_s - heard_from + gather_s)

    def _hold_params(self, hold: _Hold) -> list[tuple[str, str]]:
        return [
            ("QueueSid", hold.queue_sid),
            ("QueuePosition", "1"),
            ("QueueTime", str(hold.waited_s)),
            ("AvgQueueTime", "0"),
            ("CurrentQueueSize", HOLD_QUEUE_SIZE),
        ]

    def _keep_holding(self, hold: _Hold) -> None:
        """The caller just listens: each round of music plays out in real time while the
        phone looks out for the desk taking the call, then Twilio fetches the next round."""
        self.transcript.note("you keep holding")
        try:
            while hold.ended is None and not self._sit_through_round(hold):
                hold.waited_s += hold.round_s
                if hold.waited_s >= MAX_HOLD_S:
                    self.transcript.note(f"you give up after {MAX_HOLD_S // 60} min on hold")
                    hold.gave_up = True
                    return
                self._hold_round(hold)
        except KeyboardInterrupt:  # Ctrl-C while holding: the caller hangs up
            hold.gave_up = True

    def _sit_through_round(self, hold: _Hold) -> bool:
        """Waits out one round of music; True as soon as the desk takes the call."""
        for _ in range(math.ceil(hold.round_s / DESK_POLL_S)):
            if self._desk_took(hold):
                return True
            self.sleep(DESK_POLL_S)
        return self._desk_took(hold)

    def _desk_took(self, hold: _Hold) -> bool:
        """True once the simulated telephony has redirected this call (the desk's "take
        call"); only lines added to the calls file since the last look are read."""
        if hold.redirect_url is None and self.calls_file is not None:
            for line in self.calls_file.read_new(warn):
                if line.kind == CallLineKind.REDIRECT and line.sid == self.call_sid:
                    hold.redirect_url = line.url
        return hold.redirect_url is not None

    def _taken_by_desk(
        self, verb: TwimlVerb, document_url: str, hold: _Hold, url: str
    ) -> WebhookRequest:
        """A redirect through the REST API takes the caller out of the queue: Twilio posts
        the Enqueue action at once (and ignores its answer), then runs the new TwiML."""
        self.transcript.note(QUEUE_NOTES["redirected"])
        if "action" in verb.attrs:
            left = WebhookRequest(
                self._action(verb, document_url), self._queue_params(hold, "redirected")
            )
            self._fetch(left)
        return WebhookRequest(urljoin(document_url, url))

    def _press_while_waiting(self, hold: _Hold, key: str) -> str:
        """A key pressed during the wait music: the hotline answers with words, then
        takes the caller out of the queue (<Leave>) or says goodbye (<Hangup>)."""
        self.transcript.note(f"you pressed {key}")
        pressed = [("Digits", key), ("QueueSid", hold.queue_sid), ("QueueTime", str(hold.waited_s))]
        keys_url = hold.keys_url or ""
        answer = self._fetch(WebhookRequest(keys_url, pressed))
        self._speak_all([v for v in answer if v.tag in {"Say", "Play", "Pause"}], keys_url)
        tags = {verb.tag for verb in answer}
        if "Leave" in tags:
            return "leave"
        if "Hangup" in tags:
            self.transcript.note("hotline hangs up")
            return "hangup"
        return "bridged"  # nothing to do with the key: go on waiting until an agent answers

    def _dial(self, verb: TwimlVerb, document_url: str) -> WebhookRequest | None:
        number = verb.text or " ".join(child.text for child in verb.children)
        self.transcript.note(f"hotline dials {number}")
        result = self._choose(DIAL_HINT, DIAL_RESULTS)
        self.transcript.note("you hang up" if result is None else DIAL_NOTES[result])
        dialled_sid = new_sid("CA")
        params = [("DialCallStatus", result or "completed"), ("DialCallSid", dialled_sid)]
        if result == "completed":
            whispered_s = self._whisper(verb, document_url, dialled_sid)
            params.append(("DialCallDuration", str(max(1, whispered_s))))
        return self._after_leaving(verb, document_url, params, caller_gone=result is None)

    def _whisper(self, dial: TwimlVerb, document_url: str, dialled_sid: str) -> int:
        """A `<Number url=...>`: TwiML Twilio plays to the person dialled once they answer,
        before connecting the two (a whisper). Shown as the hotline speaking to them;
        returns how long it took."""
        number = next((n for n in dial.children if n.tag == "Number" and n.attrs.get("url")), None)
        if number is None:
            return 0
        caller_id = dial.attrs.get("callerId") or self.from_number
        leg = self._dialled_leg(dialled_sid, number.text, caller_id)
        started_s = self.airtime_s
        request: WebhookRequest | None = WebhookRequest(urljoin(document_url, number.attrs["url"]))
        while request is not None:
            request = self._hear_whisper(number.text, request.url, self._fetch(request, leg))
        return self.airtime_s - started_s

    def _hear_whisper(
        self, to: str, document_url: str, verbs: Sequence[TwimlVerb]
    ) -> WebhookRequest | None:
        for verb in verbs:
            if verb.tag == "Say":
                self.airtime_s += speaking_seconds(verb.text)
                self.transcript.hotline_says(verb.text, verb.attrs.get("language", "en-US"), to)
            elif verb.tag == "Gather":  # keys from the far end are not played: it times out
                self._hear_whisper(to, document_url, verb.children)
                self.transcript.note(f"({to} presses nothing)")
            elif verb.tag == "Redirect":
                return WebhookRequest(urljoin(document_url, verb.text))
            elif verb.tag == "Hangup":
                self.transcript.note(f"hotline hangs up on {to}")
                return None
            else:
                self.transcript.note(f"(hotline sent <{verb.tag}> to {to}, which `ivr call` skips)")
        return None

    def _dialled_leg(self, sid: str, number: str, caller_id: str) -> list[tuple[str, str]]:
        """The parameters of the call a <Dial> places, as its whisper's webhooks carry them."""
        return [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", sid),
            ("CallStatus", "in-progress"),
            ("Called", number),
            ("Caller", caller_id),
            ("Direction", "outbound-dial"),
            ("From", caller_id),
            ("ParentCallSid", self.call_sid),
            ("To", number),
        ]

    def _after_leaving(
        self,
        verb: TwimlVerb,
        document_url: str,
        params: list[tuple[str, str]],
        caller_gone: bool,
    ) -> WebhookRequest | None:
        """After <Enqueue> or <Dial>: post the action (even for a caller who hung up)."""
        if "action" not in verb.attrs:
            if caller_gone:
                raise _CallOver("caller")
            return None  # no action: Twilio goes on with the next verb
        request = WebhookRequest(self._action(verb, document_url), params)
        if caller_gone:
            self._fetch(request)  # Twilio tells the hotline, but nobody is left to hear the answer
            raise _CallOver("caller")
        return request

    def _hangup(self, verb: TwimlVerb, document_url: str) -> None:
        self.transcript.note("hotline hangs up")
        raise _CallOver("hotline")

    def _unsupported(self, verb: TwimlVerb, document_url: str) -> None:
        self.transcript.note(f"(hotline sent <{verb.tag}>, which `ivr call` skips)")

    # --- asking the caller -----------------------------------------------------------

    def _ask(self, hint: str) -> str:
        answer = self.caller_input.answer(hint)
        if answer is None:
            self.transcript.note("you hang up")
            raise _CallOver("caller")
        return answer

    def _choose(self, hint: str, choices: Mapping[str, str]) -> str | None:
        """One of `choices`, asking again until the answer is one; None if the caller hung up."""
        while True:
            answer = self.caller_input.answer(hint)
            if answer is None:
                return None
            if answer.lower() in choices:
                return choices[answer.lower()]
            self.transcript.note(f"({answer!r} is not one of the choices: {hint})")

    def _action(self, verb: TwimlVerb, document_url: str) -> str:
        """Where Twilio posts a verb's result: its action, or the document itself."""
        return urljoin(document_url, verb.attrs.get("action", document_url))


def new_sid(prefix: str) -> str:
    """A Twilio-shaped id: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def warn(problem: str) -> None:
    print(f"warning: {problem}", file=sys.stderr, flush=True)


# --- answering a call the hotline placed --------------------------------------------------


class AnsweredCall(PhoneCall):
    """A call the hotline placed through the simulated telephony backend, picked up at
    this terminal: Twilio's side of an outbound-api call, with its status callbacks.

    The hotline's URLs in the calls file are the ones Twilio would call, so they are
    signed as they are (or for --public-url) and delivered to --url."""

    def __init__(
        self,
        placed: SimulatedCall,
        url: str,
        transport: Transport,
        signer: SignatureChecker,
        caller_input: CallerInput,
        transcript: Transcript,
        public_url: str | None = None,
        account_sid: str = ACCOUNT_SID,
        *,
        decline: bool = False,
        on_ringing: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(
            url,
            placed.to,
            transport,
            signer,
            caller_input,
            transcript,
            public_url=public_url or _origin(placed.url),
            hotline_number=placed.from_number,
            account_sid=account_sid,
        )
        self.placed = placed
        self.decline = decline
        self.on_ringing = on_ringing
        self.summary.call_sid = placed.sid
        self.from_number, self.to_number = placed.from_number, placed.to
        self.direction = "outbound-api"

    def run(self) -> CallSummary:
        """Ring, then answer and follow the call's TwiML, or let it ring out (--decline)."""
        self.transcript.note(
            f"the hotline {self.from_number} calls you at {self.to_number} ({self.call_sid})"
        )
        self._report_status("initiated")
        self.on_ringing()
        self._report_status("ringing")
        if self.decline:
            return self._ring_out()
        self.transcript.note("you answer")
        self._report_status("in-progress")  # Twilio's "answered" event
        return self._follow(WebhookRequest(self._reachable(self.placed.url)))

    def _ring_out(self) -> CallSummary:
        self.transcript.note("you let it ring: nobody answers")
        self._report_status("no-answer", [("CallDuration", "0")])
        self.summary.ended_by = "declined"
        return self.summary

    def _webhook_status(self) -> str:
        return "in-progress"  # the callee has answered before Twilio fetches any TwiML

    def _status_callback(self) -> str | None:
        return self.placed.status_callback or None


PICKED_UP = frozenset({CallLineKind.ANSWERED, CallLineKind.DECLINED})


def waiting_call(
    calls: SimulatedCallsFile, sid: str = "", to: str = "", bad_line: Callable[[str], None] = warn
) -> SimulatedCall:
    """The oldest call the hotline placed that no phone has answered or declined yet (only
    `sid`, or only calls to `to`, when given)."""
    lines = calls.read_new(bad_line)
    picked_up = {line.sid for line in lines if line.kind in PICKED_UP}
    placed = [
        line
        for line in lines
        if line.kind == CallLineKind.CALL and sid in {"", line.sid} and to in {"", line.to}
    ]
    waiting = [line for line in placed if line.sid not in picked_up]
    if waiting:
        return waiting[0]
    raise NothingToAnswerError(_nothing_waiting(calls, sid, to, already_answered=bool(placed)))


def _nothing_waiting(calls: SimulatedCallsFile, sid: str, to: str, already_answered: bool) -> str:
    if sid and already_answered:
        return f"call {sid} was answered (or declined) already"
    if sid:
        return f"the hotline placed no call {sid} ({calls.path} lists the calls it placed)"
    wanted = f" to {to}" if to else ""
    return (
        f"no call from the hotline{wanted} is waiting to be answered: without a Twilio"
        f" account, the calls it places are listed in {calls.path} (run this from the"
        " folder you started `ivr run` in, or set IVR_DATA_DIR)"
    )


# --- the `ivr call` command ---------------------------------------------------------------


def call_from_terminal(
    url: str,
    caller: str,
    speak: bool = False,
    scripted: str | Sequence[str] | None = None,
    public_url: str | None = None,
    *,
    transport: Transport | None = None,
    auth_token: str | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CallSummary:
    """Phone the hotline at `url`, print the transcript, and say plainly if the call failed.

    Signs with the server's token (TWILIO_AUTH_TOKEN, or the development token file)
    for `public_url` when the server has a PUBLIC_BASE_URL, else for `url` itself.
    """
    from ivr.config import load_settings

    settings = load_settings()
    line = transport or HttpTransport()
    call = PhoneCall(
        url,
        caller,
        line,
        SignatureChecker(auth_token or settings.twilio_auth_token),
        _caller_input(scripted),
        Transcript(out, find_espeak() if speak else None),
        public_url=public_url,
        hotline_number=settings.hotline_number,
        account_sid=settings.twilio_account_sid or ACCOUNT_SID,
        calls_file=SimulatedCallsFile(settings.data_dir / CALLS_FILE),
        sleep=sleep,
    )
    return _place(call, line, close=transport is None)


def answer_from_terminal(
    url: str,
    sid: str = "",
    to: str = "",
    decline: bool = False,
    speak: bool = False,
    scripted: str | Sequence[str] | None = None,
    public_url: str | None = None,
    *,
    transport: Transport | None = None,
    auth_token: str | None = None,
    out: TextIO | None = None,
    clock: Clock | None = None,
) -> CallSummary:
    """Pick up a call the hotline placed (`ivr call --answer`) and print the transcript.

    The call is marked answered (or declined) in the calls file as it rings, so the next
    `--answer` picks the next call.
    """
    from ivr.config import load_settings

    settings = load_settings()
    calls = SimulatedCallsFile(settings.data_dir / CALLS_FILE)
    try:
        placed = waiting_call(calls, sid, to)
    except NothingToAnswerError as exc:
        print(f"nothing to answer: {exc}", file=sys.stderr, flush=True)
        return CallSummary(call_sid=sid, ended_by="error", problem=str(exc))
    picked_up = CallLineKind.DECLINED if decline else CallLineKind.ANSWERED
    now = (clock or SystemClock()).now().isoformat()
    line = transport or HttpTransport()
    call = AnsweredCall(
        placed,
        url,
        line,
        SignatureChecker(auth_token or settings.twilio_auth_token),
        _caller_input(scripted),
        Transcript(out, find_espeak() if speak else None),
        public_url=public_url,
        account_sid=settings.twilio_account_sid or ACCOUNT_SID,
        decline=decline,
        on_ringing=lambda: calls.append(SimulatedCall(picked_up, placed.sid, now)),
    )
    return _place(call, line, close=transport is None)


def _place(call: PhoneCall, line: Transport, close: bool) -> CallSummary:
    try:
        return call.run()
    except HotlineError as exc:
        print(f"call failed: {exc}", file=sys.stderr, flush=True)
        call.summary.ended_by, call.summary.problem = "error", str(exc)
        return call.summary
    finally:
        if close and isinstance(line, HttpTransport):
            line.close()


def _caller_input(scripted: str | Sequence[str] | None) -> CallerInput:
    if scripted is None:
        return KeyboardCaller()
    if isinstance(scripted, str):
        return ScriptedCaller.from_text(scripted)
    return ScriptedCaller(scripted)
