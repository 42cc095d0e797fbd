"""Walking a call through the webhooks the way Twilio would, for flow tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask

from ivr.services import services
from tests.twilio_fake import TwilioFake, Verb, call_params

URL_ATTRIBUTES = ("action", "url", "waitUrl", "statusCallback", "recordingStatusCallback")


def state_url(
    app: Flask, path: str, node: str, seq: int, lang: str = "zh-CN", **remembered: str
) -> str:
    """An action URL as the engine writes it: the position in plain sight, values sealed."""
    with app.app_context():
        seal = services().engine.seal
    fields: dict[str, str | int] = {"node": node, "lang": lang, "seq": seq, "ni": 0, "nm": 0}
    if remembered:
        fields["d"] = seal.seal(tuple(sorted(remembered.items())))
    return f"{path}?{urlencode(fields)}"


def remembered_in(app: Flask, url: str) -> dict[str, str]:
    """What the call has learned, opened from the sealed `d` of one of our action URLs."""
    token = parse_qs(urlsplit(url).query).get("d", [""])[0]
    if not token:
        return {}
    with app.app_context():
        opened = services().engine.seal.open(token)
    assert opened is not None, f"{url} carries state this hotline did not seal"
    return dict(opened)


def urls_in(verbs: list[Verb]) -> list[str]:
    """Every URL the TwiML hands Twilio: action and wait URLs, redirects, nested ones too."""
    found = []
    for verb in verbs:
        found += [verb.attrs[name] for name in URL_ATTRIBUTES if name in verb.attrs]
        if verb.tag == "Redirect":
            found.append(verb.text)
        found += urls_in(verb.children)
    return found


@dataclass
class Walk:
    """One call in progress: what the caller heard, and where Twilio posts next."""

    twilio: TwilioFake
    sid: str
    caller: str = "+8613800138000"
    heard: list[str] = field(default_factory=list)
    verbs: list[Verb] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # every URL our TwiML handed Twilio

    def start(self) -> Walk:
        self._take(self.twilio.answer(self.sid, caller=self.caller))
        return self

    def press(self, digits: str) -> Walk:
        return self.post(self.action, Digits=digits)

    def say(self, words: str) -> Walk:
        return self.post(self.action, SpeechResult=words, Confidence="0.9")

    def silence(self) -> Walk:
        return self.post(self.redirect)

    def key_unit(self, building: str, room: str, entrance: str = "", known: bool = False) -> Walk:
        """Type a unit: building, entrance (# alone for none), room. One the registry does
        not have is told so and asked for once more, so it is typed twice."""
        for _ in range(1 if known else 2):
            self.press(f"{building}#").press(f"{entrance}#").press(f"{room}#")
        return self

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
        self.urls += urls_in(verbs)
