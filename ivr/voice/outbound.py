"""Voice webhooks for the calls the hotline places: agent-first callbacks bridged to the
resident, and the automated return-visit survey (回访). Each is a flow on the engine
(`ivr/flows/<name>.yaml`, registered in `ivr.callbacks.calls`); one view runs them all,
finding the call and its node by the path Twilio calls.

Routes join the `voice` blueprint, so the signature check and the never-silent error
handler apply; like every `/voice/*` view, nothing here runs SQL: what the TwiML needs
travels in the URL the worker gave Twilio when it placed the call (`CallbackLeg`). What
happened goes to the call log as events; the worker moves the callback on from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, request

from ivr.callbacks.calls import Place
from ivr.callbacks.legs import CallbackLeg, leg_state
from ivr.core.events import CallEvent, EventKind
from ivr.core.verbs import Verb
from ivr.flows.engine import Caller, Reply, Turn
from ivr.services import services
from ivr.voice import fields
from ivr.voice.inbound import _call_sid, _log_events, _sequence_number, twiml, voice
from ivr.voice.twiml import render

__all__ = ["voice"]

NODE = "callback"


# --- the calls we place, run as flows (ivr/callbacks/calls.py) ---------------------------


@voice.post("/callback/<path:step>")
def callback_flow(step: str) -> Response:
    """A call we placed: answered, an answer to its question, the whisper the resident hears
    before the bridge, or how the bridge ended. Its flow's paths say which (ivr/flows/)."""
    place, leg = services().legs.at(request.path), _leg()
    if place is None or leg is None:
        if place is not None and place.node is not None and place.node.type == "whisper":
            return _answer([])  # bridge without a greeting rather than not at all
        return _polite_end()
    turn = _run(place, leg)
    settled = place.call.settles(turn)
    if settled is not None:
        _report(leg, settled.kind, settled.step, **settled.detail)
    return _answer(turn.verbs)


def _run(place: Place, leg: CallbackLeg) -> Turn:
    engine, node, caller = place.engine, place.node, _caller()
    if node is None:
        _report(
            leg, EventKind.CALLBACK_LEG, f"leg:{place.call.leg}", leg=place.call.leg, line=_line()
        )
        return engine.begin(caller, leg_state(leg, engine.flow.start, _answerer_locale(place, leg)))
    if node.type == "whisper":
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
        return engine.begin(caller, leg_state(leg, node.name, _resident_locale(leg)))
    locale = _answerer_locale(place, leg)
    if node.type == "connect":
        status = fields.text(request.form, "DialCallStatus", 32) or "failed"
        _report(leg, EventKind.CALLBACK_DIALED, "dialed", **_dialed(status))
        return engine.rang(caller, leg_state(leg, node.name, locale), status)
    no_input, no_match = fields.count(request.args, "ni"), fields.count(request.args, "nm")
    state = leg_state(leg, node.name, locale, no_input, no_match)
    return engine.step(caller, state, Reply.from_form(request.form))


def _dialed(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "resident_sid": _form("DialCallSid"),
        **fields.duration(request.form, "DialCallDuration"),
    }


@voice.post("/callback/status")
def callback_status() -> Response:
    """Twilio's status callback for a call we placed: always 200, idempotent by status and
    sequence number."""
    leg = _leg()
    status = fields.text(request.form, "CallStatus", 32)
    if leg is not None and _call_sid() and status:
        detail: dict[str, Any] = {"status": status, **fields.duration(request.form, "CallDuration")}
        key = f"status:{status}:{_sequence_number(request.form)}"
        _report(leg, EventKind.CALLBACK_STATUS, key, **detail)
    return twiml(render([]))


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


def _answerer_locale(place: Place, leg: CallbackLeg) -> str:
    """An agent hears the hotline's language; a resident their own."""
    return _resident_locale(leg) if place.call.answered_by == "resident" else _agent_locale()


def _agent_locale() -> str:
    return services().settings.default_locale


def _resident_locale(leg: CallbackLeg) -> str:
    return leg.locale if leg.locale in services().engine.catalogues else _agent_locale()
