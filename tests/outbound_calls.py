"""Calls the hotline places to residents (callbacks and return-visit surveys), driven the way
Twilio would: the sweep that places them, what Twilio was asked, and the answered call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from redis import Redis

from ivr.core.clock import FrozenClock
from ivr.models import CallbackAttempt
from ivr.outbound.telephony import SIMULATED_ACCOUNT_SID, RecordingHttpClient
from ivr.queues import tickets_queue
from tests.records import stored
from tests.twilio_fake import TwilioFake, Verb, call_params

HOTLINE = "+8657112345678"
RESIDENT = "+8613800138000"
RESIDENT_LEG = "CA" + "7" * 32
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{SIMULATED_ACCOUNT_SID}/Calls.json"
ZH = {"language": "cmn-CN", "voice": "Polly.Zhiyu"}
EN = {"language": "en-US", "voice": "Polly.Joanna"}
PROGRESS = ["initiated", "ringing", "answered", "completed"]
GOODBYE = "谢谢您的来电，我们会尽快答复，再见！"

Jobs = Callable[[], int]


def say(text: str, voice: dict[str, str] = ZH) -> Verb:
    return Verb("Say", dict(voice), text)


def hang_up() -> Verb:
    return Verb("Hangup", {})


def gather(action: str, prompts: list[Verb]) -> list[Verb]:
    """One key pressed at `action`; Twilio falls through to the <Redirect> when none is."""
    keys = Verb(
        "Gather",
        {
            "action": action,
            "input": "dtmf",
            "language": "cmn-Hans-CN",
            "method": "POST",
            "numDigits": "1",
            "speechTimeout": "auto",
            "timeout": "6",
        },
        children=prompts,
    )
    return [keys, Verb("Redirect", {"method": "POST"}, action)]


def outbound(sid: str, to: str, **extra: str) -> dict[str, str]:
    """What Twilio posts about a call we placed: from the hotline, to `to`."""
    return call_params(sid, HOTLINE, To=to, Called=to, Direction="outbound-api", **extra)


def path_on(twilio: TwilioFake, url: str) -> str:
    """The path of one of our webhook URLs, as Twilio is asked to fetch it."""
    assert url.startswith(twilio.base_url), url
    return url.removeprefix(twilio.base_url)


class PlacedCall:
    """A call we asked Twilio to place, answered and driven the way Twilio would."""

    def __init__(self, twilio: TwilioFake, app: Flask, request: dict[str, Any]) -> None:
        self.twilio, self.request = twilio, request
        attempt_id = int(parse_qs(urlsplit(request["Url"]).query)["at"][0])
        [attempt] = stored(app, CallbackAttempt, id=attempt_id)
        assert attempt.call_sid is not None
        self.sid = attempt.call_sid
        self.verbs: list[Verb] = []

    def post(self, url: str, **form: str) -> list[Verb]:
        self.verbs = self.twilio.twiml(url, outbound(self.sid, self.request["To"], **form))
        return self.verbs

    def answer(self) -> list[Verb]:
        return self.post(path_on(self.twilio, self.request["Url"]))

    def press(self, digits: str = "") -> list[Verb]:
        """Keys at the <Gather>; none is Twilio falling through to our <Redirect>."""
        if not digits:
            return self.post(next(v.text for v in self.verbs if v.tag == "Redirect"))
        return self.post(
            next(v.attrs["action"] for v in self.verbs if v.tag == "Gather"), Digits=digits
        )

    def accepted(self) -> list[Verb]:
        """The agent answers and presses 1 to be put through to the resident."""
        self.answer()
        return self.press("1")

    def resident_answers(self) -> list[Verb]:
        """Twilio fetches the whisper for the resident's leg of the <Dial>."""
        [dial] = [v for v in self.verbs if v.tag == "Dial"]
        form = call_params(
            RESIDENT_LEG, HOTLINE, To=RESIDENT, ParentCallSid=self.sid, Direction="outbound-dial"
        )
        return self.twilio.twiml(dial.children[0].attrs["url"], form)

    def dialed(self, status: str, duration: str = "95") -> list[Verb]:
        [dial] = [v for v in self.verbs if v.tag == "Dial"]
        return self.post(
            dial.attrs["action"],
            DialCallStatus=status,
            DialCallSid=RESIDENT_LEG,
            DialCallDuration=duration,
        )

    def ends(self, status: str = "completed", duration: str = "120") -> None:
        """Twilio's final status callback for the leg we placed."""
        form = outbound(
            self.sid,
            self.request["To"],
            CallStatus=status,
            CallDuration=duration,
            SequenceNumber="3",
        )
        response = self.twilio.post(path_on(self.twilio, self.request["StatusCallback"]), form)
        assert (response.status_code, response.get_data(as_text=True)) == (
            200,
            '<?xml version="1.0" encoding="UTF-8"?><Response />',
        )


@dataclass(frozen=True)
class Office:
    """The hotline calling residents back (the `office` fixture): the app, Twilio both ways,
    the clock, and the workers that run the sweep and place the calls."""

    app: Flask
    twilio: TwilioFake
    rest: RecordingHttpClient
    clock: FrozenClock
    redis: Redis
    run_jobs: Jobs

    def sweep(self) -> None:
        """What the cron does every minute: the sweep job, then the dispatch jobs it enqueues."""
        tickets_queue(self.redis).enqueue("worker.jobs.sweep_callbacks")
        self.run_jobs()

    def placed(self) -> list[dict[str, Any]]:
        """The calls we asked Twilio to place, oldest first."""
        return [r.data for r in self.rest.requests if r.method == "POST" and r.url == CALLS]

    def rung(self) -> list[str]:
        """Whom those calls rang, oldest first."""
        return [call["To"] for call in self.placed()]

    def last_call(self) -> PlacedCall:
        """The call placed last, to answer and drive."""
        return PlacedCall(self.twilio, self.app, self.placed()[-1])

    def attempts(self, callback_id: int) -> list[CallbackAttempt]:
        return stored(self.app, CallbackAttempt, callback_id=callback_id)
