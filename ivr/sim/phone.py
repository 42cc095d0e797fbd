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
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import urljoin, urlsplit

from ivr.outbound.telephony import CallLineKind, SimulatedCallsFile
from ivr.sim.caller import (
    DIAL_HINT,
    DIAL_NOTES,
    DIAL_RESULTS,
    GATHER_HINT,
    HOLD_ENDINGS,
    KEEP_HOLDING,
    QUEUE_CHOICE_HINT,
    QUEUE_HINT,
    QUEUE_KEYS,
    QUEUE_NOTES,
    QUEUE_RESULTS,
    RECORD_HINT,
    CallerInput,
    GatherReply,
    read_gather_reply,
    speaking_seconds,
)
from ivr.sim.transcript import Transcript
from ivr.sim.transport import HotlineRefusedError, Transport
from ivr.sim.twiml_reader import TwimlVerb, parse_twiml
from ivr.voice.twiml import SignatureChecker

ACCOUNT_SID = "AC" + "0" * 32  # Twilio-shaped, but no real account: nothing here is billed
API_VERSION = "2010-04-01"
DEFAULT_HOTLINE_NUMBER = "+8657112345678"  # HOTLINE_NUMBER's default in ivr.config
MAX_REQUESTS_PER_CALL = 100  # a flow that redirects forever must not hang the terminal
HOLD_QUEUE_SIZE = "1"
DESK_POLL_S = 1.0  # while holding, how often the phone looks for the desk taking the call
DEFAULT_HOLD_ROUND_S = 30  # Twilio's own hold music, when the queue has no waitUrl
MAX_HOLD_S = 3600  # a caller left holding with nothing to end the wait gives up after this


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
        self._whisper_hung_up = False  # the whisper of the last <Dial> hung up on the far end
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
            whispered_s, bridged = self._whisper(verb, document_url, dialled_sid)
            params.append(("DialCallDuration", str(max(1, whispered_s))))
            params.append(("DialBridged", "true" if bridged else "false"))
        return self._after_leaving(verb, document_url, params, caller_gone=result is None)

    def _whisper(self, dial: TwimlVerb, document_url: str, dialled_sid: str) -> tuple[int, bool]:
        """A `<Number url=...>`: TwiML Twilio plays to the person dialled once they answer,
        before connecting the two (a whisper). Shown as the hotline speaking to them;
        returns how long it took, and whether the two were bridged (the whisper did not
        hang up on them)."""
        number = next((n for n in dial.children if n.tag == "Number" and n.attrs.get("url")), None)
        if number is None:
            return 0, True
        caller_id = dial.attrs.get("callerId") or self.from_number
        leg = self._dialled_leg(dialled_sid, number.text, caller_id)
        started_s = self.airtime_s
        self._whisper_hung_up = False
        request: WebhookRequest | None = WebhookRequest(urljoin(document_url, number.attrs["url"]))
        while request is not None:
            request = self._hear_whisper(number.text, request.url, self._fetch(request, leg))
        return self.airtime_s - started_s, not self._whisper_hung_up

    def _hear_whisper(
        self, to: str, document_url: str, verbs: Sequence[TwimlVerb]
    ) -> WebhookRequest | None:
        for verb in verbs:
            if verb.tag == "Say":
                self.airtime_s += speaking_seconds(verb.text)
                self.transcript.hotline_says(verb.text, verb.attrs.get("language", "en-US"), to)
            elif verb.tag == "Gather":
                # The person who answered takes the call: they press 1 when asked to.
                self._hear_whisper(to, document_url, verb.children)
                self.transcript.note(f"({to} presses 1)")
                action = urljoin(document_url, verb.attrs.get("action", document_url))
                return WebhookRequest(action, (("Digits", "1"),))
            elif verb.tag == "Redirect":
                return WebhookRequest(urljoin(document_url, verb.text))
            elif verb.tag == "Hangup":
                self.transcript.note(f"hotline hangs up on {to}")
                self._whisper_hung_up = True
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
