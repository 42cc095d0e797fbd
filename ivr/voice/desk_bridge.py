"""Voice webhooks for calls an agent takes from the desk: the caller is redirected to a
`<Dial>` to the agent's phone, and comes back to the queue if the agent does not answer.

Routes join the `voice` blueprint, so the signature check and the never-silent error
handler apply; like every `/voice/*` view, nothing here runs SQL: who the agent is and
where the caller waited travel in the URL the desk gave Twilio (see `ivr.voice.bridge`).
"""

from __future__ import annotations

from dataclasses import replace

from flask import Response, request

from ivr.calllog.write import AGENT_ANSWERED
from ivr.core.events import CallEvent, EventKind
from ivr.core.verbs import Dial, Enqueue, Hangup, Speech
from ivr.flows.engine import CallState
from ivr.models import CallStatus
from ivr.services import services
from ivr.voice import fields
from ivr.voice.bridge import Bridge
from ivr.voice.inbound import _call_sid, _log_events, edge, twiml, voice
from ivr.voice.twiml import render

__all__ = ["voice"]

AGENT_RING_S = 20  # then the caller goes back to the queue rather than hear ringing forever
DESK_NODE = "desk"


@voice.post("/desk/bridge")
def desk_bridge() -> Response:
    """The caller, taken from the queue at the desk: tell them, then ring the agent."""
    bridge = _bridge()
    if bridge is None:
        return twiml(edge().fallback_twiml)
    _log_events([_desk_event(bridge, EventKind.DESK_BRIDGE)])
    dial = Dial(
        number=bridge.agent_phone,
        action="/voice/desk/bridged?" + bridge.next_step().as_query(),
        timeout_s=AGENT_RING_S,
        caller_id=services().settings.hotline_number,
    )
    return twiml(render([*_speak(bridge.locale, "desk.connecting"), dial]))


@voice.post("/desk/bridged")
def desk_bridged() -> Response:
    """The agent's leg ended: answered and done, or not answered and back to the queue."""
    bridge = _bridge()
    if bridge is None:
        return twiml(edge().fallback_twiml)
    status = fields.text(request.form, "DialCallStatus", 32) or "failed"
    if status in AGENT_ANSWERED:
        _log_events([_desk_event(bridge, EventKind.DESK_DIALED, status=status)])
        return twiml(render(services().engine.goodbye(bridge.locale)))
    if _caller_has_gone():
        dialed = _desk_event(bridge, EventKind.DESK_DIALED, status=status, caller_gone=True)
        _log_events([dialed])
        return twiml(render([Hangup()]))
    dialed = _desk_event(bridge, EventKind.DESK_DIALED, status=status)
    _log_events([dialed, _back_to_queue(bridge)])
    return twiml(render([*_speak(bridge.locale, "desk.agent_missed"), _enqueue_again(bridge)]))


def _bridge() -> Bridge | None:
    nodes = services().engine.flow.nodes
    queue_nodes = {name for name, node in nodes.items() if node.type == "queue"}
    bridge = Bridge.from_args(request.args, queue_nodes)
    if bridge is not None and bridge.locale not in services().engine.catalogues:
        return replace(bridge, locale=services().settings.default_locale)
    return bridge


def _caller_has_gone() -> bool:
    """Twilio posts the caller's own status with the dial result: final means they hung up."""
    try:
        return CallStatus(fields.text(request.form, "CallStatus", 32)).is_final
    except ValueError:
        return False


def _desk_event(bridge: Bridge, kind: EventKind, **detail: object) -> CallEvent:
    agent = {"agent_id": bridge.agent_id, "agent": bridge.agent_name}
    return CallEvent(
        _call_sid(),
        kind,
        services().clock.now(),
        seq=bridge.seq,
        node=DESK_NODE,
        detail=agent | detail,
    )


def _back_to_queue(bridge: Bridge) -> CallEvent:
    """A fresh hand-off, so the desk lists the caller as waiting again."""
    node = services().engine.flow.nodes[bridge.node]
    detail = {"queue": node.queue, "category": node.category}
    return CallEvent(
        _call_sid(),
        EventKind.HANDOFF,
        services().clock.now(),
        seq=bridge.seq,
        node=bridge.node,
        detail=detail,
    )


def _enqueue_again(bridge: Bridge) -> Enqueue:
    """The same queue and the engine's own wait and result URLs, one step on."""
    engine = services().engine
    node = engine.flow.nodes[bridge.node]
    following = CallState(bridge.node, bridge.locale, seq=bridge.seq + 1).as_query(engine.seal)
    return Enqueue(
        queue=str(node.queue),
        wait_url="/voice/queue/wait?" + following,
        action="/voice/queue/result?" + following,
    )


def _speak(locale: str, key: str) -> list[Speech]:
    engine = services().engine
    return engine.catalogues[locale].speech(key, engine.values)
