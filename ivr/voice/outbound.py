"""Voice webhooks for the calls the hotline places: agent-first callbacks bridged to the
resident, and the automated return-visit survey (回访).

Routes join the `voice` blueprint, so the signature check and the never-silent error
handler apply; like every `/voice/*` view, nothing here runs SQL: what the TwiML needs
travels in the URL the worker gave Twilio when it placed the call (`CallbackLeg`). What
happened goes to the call log as events; the worker moves the callback on from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, request

from ivr.callbacks.dispatch import RESIDENT_RING_S, RETRY_AFTER
from ivr.callbacks.legs import MAX_TRIES, CallbackLeg, leg_state
from ivr.callbacks.outcomes import RATINGS
from ivr.core.events import CallEvent, EventKind
from ivr.core.prompts import Catalogue
from ivr.core.verbs import Dial, Gather, Hangup, Redirect, Speech, Verb
from ivr.flows.engine import Caller, Reply, Turn
from ivr.flows.speech import clean_digits
from ivr.services import services
from ivr.voice import fields
from ivr.voice.inbound import MAX_CALL_S, _call_sid, _log_events, _sequence_number, twiml, voice
from ivr.voice.twiml import render

__all__ = ["voice"]

ACCEPT_PATH = "/voice/callback/accept"
GREET_PATH = "/voice/callback/greet"
DIALED_PATH = "/voice/callback/dialed"
SURVEY_QUESTION = "rate"  # the survey flow's node that /voice/callback/survey/answer answers
AGENT_ASKS = 2  # the agent hears "press 1" twice; then the callback goes to someone else
GATHER_TIMEOUT_S = 6
NODE = "callback"


# --- the agent's leg ---------------------------------------------------------------------


@voice.post("/callback/agent")
def callback_agent() -> Response:
    """The agent answered: who is to be called back and why, then press 1 to connect."""
    leg = _leg()
    if leg is None:
        return _polite_end()
    _report(leg, EventKind.CALLBACK_LEG, "leg:agent", leg="agent", line=_line())
    return _answer(_ask_agent(leg, failures=0, briefing=_briefing(leg)))


@voice.post("/callback/accept")
def callback_accept() -> Response:
    """1: ring the resident from the hotline's number, with a whisper that says why we call.
    Anything else is asked once more; then the callback goes back for another agent."""
    leg = _leg()
    if leg is None:
        return _polite_end()
    digits = clean_digits(request.form.get("Digits", ""))
    locale = _agent_locale()
    if digits == "1":
        _report(leg, EventKind.CALLBACK_AGENT, "agent", answer="accepted")
        return _answer([*_speak(locale, "callback.agent.connecting"), _dial_resident(leg)])
    failures = _count(request.args.get("f")) + 1
    if failures >= AGENT_ASKS:
        _report(leg, EventKind.CALLBACK_AGENT, "agent", answer="declined")
        return _answer([*_speak(locale, "callback.agent.not_accepted"), Hangup()])
    sorry = _speak(locale, "system.invalid" if digits else "system.no_input")
    return _answer([*sorry, *_ask_agent(leg, failures=failures)])


@voice.post("/callback/greet")
def callback_greet() -> Response:
    """The resident answered: before the bridge they hear who calls and why (R2, R8)."""
    leg = _leg()
    if leg is None:
        return _answer([])  # bridge without a greeting rather than not at all
    # Twilio fetches the whisper for the resident's leg; it is filed under the agent's call.
    agent_leg = _form("ParentCallSid") or _call_sid()
    _report(
        leg,
        EventKind.CALLBACK_LEG,
        "leg:resident",
        call_sid=agent_leg,
        leg="resident",
        resident_sid=_call_sid(),
    )
    locale = _resident_locale(leg)
    topic = _word(locale, f"callback.topic.{leg.topic}")
    return _answer(_speak(locale, f"callback.resident.{leg.source}", kind_label=topic))


@voice.post("/callback/dialed")
def callback_dialed() -> Response:
    """The bridge ended, or the resident never answered: tell the agent what happens next."""
    leg = _leg()
    if leg is None:
        return _polite_end()
    status = fields.text(request.form, "DialCallStatus", 32) or "failed"
    detail: dict[str, Any] = {"status": status, "resident_sid": _form("DialCallSid")}
    duration = fields.whole_number(request.form, "DialCallDuration", limit=MAX_CALL_S)
    if duration is not None:
        detail["duration_s"] = duration
    _report(leg, EventKind.CALLBACK_DIALED, "dialed", **detail)
    locale = _agent_locale()
    if status == "completed":
        return _answer([*_speak(locale, "callback.agent.done"), Hangup()])
    if leg.is_last_try:
        closing = _speak(locale, "callback.agent.unreachable", count=str(MAX_TRIES))
    else:
        minutes = str(int(RETRY_AFTER.total_seconds() // 60))
        closing = _speak(locale, "callback.agent.retry", minutes=minutes)
    return _answer([*closing, Hangup()])


@voice.post("/callback/status")
def callback_status() -> Response:
    """Twilio's status callback for a call we placed: always 200, idempotent by status and
    sequence number."""
    leg = _leg()
    status = fields.text(request.form, "CallStatus", 32)
    if leg is not None and _call_sid() and status:
        detail: dict[str, Any] = {"status": status}
        duration = fields.whole_number(request.form, "CallDuration", limit=MAX_CALL_S)
        if duration is not None:
            detail["duration_s"] = duration
        key = f"status:{status}:{_sequence_number(request.form)}"
        _report(leg, EventKind.CALLBACK_STATUS, key, **detail)
    return twiml(render([]))


def _briefing(leg: CallbackLeg) -> list[Speech]:
    locale = _agent_locale()
    unit = leg.unit or _word(locale, "callback.phone_tail", number=leg.phone[-4:])
    topic = _word(locale, f"callback.topic.{leg.topic}")
    return _speak(locale, f"callback.agent.{leg.source}", unit_label=unit, kind_label=topic)


def _ask_agent(leg: CallbackLeg, failures: int, briefing: list[Speech] | None = None) -> list[Verb]:
    locale = _agent_locale()
    action = f"{ACCEPT_PATH}?{leg.query(f=failures)}"
    prompts = [*(briefing or []), *_speak(locale, "callback.agent.accept")]
    ask = Gather(
        action=action,
        prompts=tuple(prompts),
        language=_catalogue(locale).voice.gather_language,
        timeout_s=GATHER_TIMEOUT_S,
        input="dtmf",
    )
    return [ask, Redirect(action)]  # Twilio falls through to the Redirect on silence


def _dial_resident(leg: CallbackLeg) -> Dial:
    return Dial(
        number=leg.phone,
        action=f"{DIALED_PATH}?{leg.query()}",
        timeout_s=RESIDENT_RING_S,
        caller_id=services().settings.hotline_number,
        whisper_url=f"{GREET_PATH}?{leg.query()}",
    )


# --- the survey (回访): ivr/flows/survey.yaml, run by the flow engine -------------------------


@voice.post("/callback/survey")
def callback_survey() -> Response:
    """The resident answered the return-visit call: which ticket, then rate it 1, 2 or 3."""
    leg = _leg()
    if leg is None:
        return _polite_end()
    _report(leg, EventKind.CALLBACK_LEG, "leg:survey", leg="survey", line=_line())
    survey = services().legs["survey"]
    turn = survey.begin(_caller(), leg_state(leg, survey.flow.start, _resident_locale(leg)))
    return _answer(turn.verbs)


@voice.post("/callback/survey/answer")
def callback_survey_answer() -> Response:
    leg = _leg()
    if leg is None:
        return _polite_end()
    no_input, no_match = _count(request.args.get("ni")), _count(request.args.get("nm"))
    state = leg_state(leg, SURVEY_QUESTION, _resident_locale(leg), no_input, no_match)
    turn = services().legs["survey"].step(_caller(), state, Reply.from_form(request.form))
    rating = _rating(turn)
    if rating is not None:
        _report(leg, EventKind.SURVEY_RATED, "rated", rating=rating)
    return _answer(turn.verbs)


def _rating(turn: Turn) -> str | None:
    """What the survey's turn settled: a rating, "" when the questions ran out, or None
    while it still asks."""
    for event in turn.events:
        if event.kind == EventKind.CHOICE and event.detail.get("option") in RATINGS:
            return str(event.detail["option"])
        if event.kind == EventKind.RETRIES_EXHAUSTED:
            return ""
    return None


def _caller() -> Caller:
    return Caller(_call_sid(), fields.text(request.form, "To", 32))


# --- shared ------------------------------------------------------------------------------


def _leg() -> CallbackLeg | None:
    try:
        return CallbackLeg.from_args(request.args)
    except ValueError:
        return None


def _polite_end() -> Response:
    """A URL we did not write (it passed the signature, so a bug of ours): never a 500."""
    return _answer(services().engine.goodbye(services().settings.default_locale))


def _answer(verbs: Sequence[Verb]) -> Response:
    return twiml(render(verbs))


def _report(
    leg: CallbackLeg, kind: EventKind, step: str, /, call_sid: str = "", **detail: Any
) -> None:
    """One event for the call log, keyed by the call and the step: replays write it once."""
    sid = call_sid or _call_sid()
    event = CallEvent(
        sid,
        kind,
        services().clock.now(),
        node=NODE,
        detail=leg.detail() | detail,
        key=f"{sid}:callback:{step}",
    )
    _log_events([event])


def _form(name: str) -> str:
    return fields.text(request.form, name, 64)


def _line() -> str:
    """The hotline number the call went out from."""
    return fields.text(request.form, "From", 32)


def _count(raw: str | None) -> int:
    return min(int(raw), 100) if raw and raw.isdigit() else 0


def _agent_locale() -> str:
    return services().settings.default_locale


def _resident_locale(leg: CallbackLeg) -> str:
    return leg.locale if leg.locale in services().engine.catalogues else _agent_locale()


def _catalogue(locale: str) -> Catalogue:
    return services().engine.catalogues[locale]


def _values(extra: dict[str, str]) -> dict[str, str]:
    return {**services().engine.values, **extra}


def _word(locale: str, key: str, **extra: str) -> str:
    return str(_catalogue(locale).prompts[key].text.format_map(_values(extra)))


def _speak(locale: str, key: str, **extra: str) -> list[Speech]:
    return _catalogue(locale).speech(key, _values(extra))
