"""The voice edge: our verbs to TwiML, and Twilio's request signatures.

One of the two modules that import `twilio` (the other is `ivr.outbound.telephony`).
TwiML is built only with twilio's builders, which escape whatever the caller said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.voice_response import Gather as TwilioGather
from twilio.twiml.voice_response import VoiceResponse

from ivr.core.verbs import (
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Play,
    Record,
    Redirect,
    Say,
    Speech,
    Verb,
)


def _speak(target: VoiceResponse | TwilioGather, speech: Speech) -> None:
    if isinstance(speech, Say):
        target.say(speech.text, voice=speech.voice, language=speech.language)
    elif isinstance(speech, Play):
        target.play(speech.url)
    else:
        target.pause(length=speech.seconds)


def _gather(response: VoiceResponse, verb: Gather) -> None:
    gather = response.gather(
        input=verb.input,
        action=verb.action,
        method="POST",
        timeout=verb.timeout_s,
        num_digits=verb.num_digits or None,
        language=verb.language,
        speech_timeout="auto",
        hints=verb.hints or None,
    )
    for speech in verb.prompts:
        _speak(gather, speech)


def _dial(response: VoiceResponse, verb: Dial) -> None:
    options = {"action": verb.action, "method": "POST", "timeout": verb.timeout_s}
    if verb.whisper_url is None:
        response.dial(verb.number, caller_id=verb.caller_id, **options)
        return
    dial = response.dial(caller_id=verb.caller_id, **options)
    dial.number(verb.number, url=verb.whisper_url, method="POST")


def _add(response: VoiceResponse, verb: Verb) -> None:
    if isinstance(verb, Say | Play | Pause):
        _speak(response, verb)
    elif isinstance(verb, Gather):
        _gather(response, verb)
    elif isinstance(verb, Redirect):
        response.redirect(verb.url, method="POST")
    elif isinstance(verb, Enqueue):
        response.enqueue(
            verb.queue,
            wait_url=verb.wait_url,
            wait_url_method="POST",
            action=verb.action,
            method="POST",
        )
    elif isinstance(verb, Record):
        response.record(
            action=verb.action,
            method="POST",
            max_length=verb.max_length_s,
            timeout=verb.timeout_s,
            finish_on_key=verb.finish_on_key,
            play_beep=True,
            transcribe=True if verb.transcribe_callback else None,
            transcribe_callback=verb.transcribe_callback,
        )
    elif isinstance(verb, Dial):
        _dial(response, verb)
    elif isinstance(verb, Hangup):
        response.hangup()
    elif isinstance(verb, Leave):
        response.leave()
    else:  # pragma: no cover - the Verb union is closed
        raise TypeError(f"unknown verb {verb!r}")


def render(verbs: Iterable[Verb]) -> str:
    """A complete TwiML document for these verbs."""
    return _render(tuple(verbs))


@lru_cache(maxsize=4096)
def _render(verbs: tuple[Verb, ...]) -> str:
    # Verbs are immutable values and most answers repeat (every greeting, every menu at the
    # same step), so building the XML once per distinct answer saves work on every webhook.
    response = VoiceResponse()
    for verb in verbs:
        _add(response, verb)
    return str(response)


class SignatureChecker:
    """Checks `X-Twilio-Signature` against the URL Twilio called and the form it posted."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def is_genuine(
        self, url: str, form: Mapping[str, str] | object, signature: str, settings_header: str = ""
    ) -> bool:
        """True only for a request signed with our token (HMAC-SHA1, or the algorithm named)."""
        if not signature:
            return False
        algorithm = get_signature_algorithm(settings_header)
        return bool(self._validator.validate(url, form, signature, algorithm))

    def sign(
        self,
        url: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]],
        algorithm: str = "HMAC_SHA1",
    ) -> str:
        """The signature Twilio would send; used by `ivr call`, tests and benchmarks."""
        return str(self._validator.compute_signature(url, _multi(params), algorithm))


class _MultiParams(dict[str, list[str]]):
    """Repeated keys in the shape twilio's validator reads (`getlist`)."""

    def getlist(self, key: str) -> list[str]:
        return self[key]


def _multi(params: Mapping[str, str] | Sequence[tuple[str, str]]) -> _MultiParams:
    pairs = params.items() if isinstance(params, Mapping) else params
    multi = _MultiParams()
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return multi
