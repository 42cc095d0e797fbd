"""Walking a call through the webhooks the way Twilio would, for flow tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.twilio_fake import TwilioFake, Verb, call_params


@dataclass
class Walk:
    """One call in progress: what the caller heard, and where Twilio posts next."""

    twilio: TwilioFake
    sid: str
    caller: str = "+8613800138000"
    heard: list[str] = field(default_factory=list)
    verbs: list[Verb] = field(default_factory=list)

    def start(self) -> Walk:
        self._take(self.twilio.answer(self.sid, caller=self.caller))
        return self

    def press(self, digits: str) -> Walk:
        return self.post(self.action, Digits=digits)

    def say(self, words: str) -> Walk:
        return self.post(self.action, SpeechResult=words, Confidence="0.9")

    def silence(self) -> Walk:
        return self.post(self.redirect)

    def record(self, sid: str = "RE" + "1" * 32, seconds: str = "9") -> Walk:
        url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{sid}"
        return self.post(
            self.record_action, RecordingUrl=url, RecordingSid=sid, RecordingDuration=seconds
        )

    def dial_result(self, status: str) -> Walk:
        return self.post(self.dial_action, DialCallStatus=status)

    def hang_up(self, duration: str = "60") -> None:
        self.twilio.post(
            "/voice/status",
            call_params(self.sid, self.caller, CallStatus="completed", CallDuration=duration),
        )

    @property
    def tags(self) -> list[str]:
        return [verb.tag for verb in self.verbs]

    @property
    def last_heard(self) -> list[str]:
        return [verb.text for verb in self.verbs if verb.tag == "Say"] + [
            child.text for verb in self.verbs for child in verb.children if child.tag == "Say"
        ]

    @property
    def action(self) -> str:
        return next(v.attrs["action"] for v in self.verbs if v.tag == "Gather")

    @property
    def redirect(self) -> str:
        return next(v.text for v in self.verbs if v.tag == "Redirect")

    @property
    def record_action(self) -> str:
        return next(v.attrs["action"] for v in self.verbs if v.tag == "Record")

    @property
    def dial_action(self) -> str:
        return next(v.attrs["action"] for v in self.verbs if v.tag == "Dial")

    def post(self, url: str, **form: str) -> Walk:
        """Post to any of our action URLs (a replay, say) as this call."""
        self._take(self.twilio.follow(url, self.sid, **({"From": self.caller} | form)))
        return self

    def _take(self, verbs: list[Verb]) -> None:
        self.verbs = verbs
        self.heard += self.last_heard
