"""The calls the hotline places, one registration each.

A call we place is a flow (`ivr/flows/<name>.yaml`) run by the same engine as the inbound
call, its prompts in every catalogue, and an entry in `OUTBOUND_CALLS`: the callbacks it
serves, who answers it first, where Twilio fetches its first TwiML, the values the names in
its prompt keys take, and which answer settles it for the worker. The dispatcher places it
(`ivr.callbacks.dispatch`); the webhooks under /voice/callback/ run it (`ivr/voice/outbound.py`)
by the paths its flow names; what it settled reaches the worker as a call-log event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.callbacks.legs import MAX_TRIES, RETRY_AFTER, STATUS_PATH, leg_query
from ivr.config import Settings
from ivr.core.callback_prompts import EMERGENCIES, SOURCES, TOPICS
from ivr.core.clock import Clock
from ivr.core.events import EventKind
from ivr.core.labels import RATINGS
from ivr.core.prompts import Catalogue
from ivr.flows import FlowError, flow_path, load_flow, validate_flow
from ivr.flows.definition import Flow, Node
from ivr.flows.engine import FlowEngine, Turn
from ivr.flows.engine.state import ASKING
from ivr.models import CallbackKind

# Nodes Twilio comes back to in a call we placed, each by its own path: the questions, and
# the bridge's whisper and result.
BY_PATH = ASKING | {"connect", "whisper"}


@dataclass(frozen=True)
class Settled:
    """What a turn of the call settled for the worker: one event, logged once per step."""

    kind: EventKind
    step: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundCall:
    """One kind of call the hotline places."""

    name: str  # its flow, ivr/flows/<name>.yaml
    kind: CallbackKind  # the callbacks it serves
    path: str  # where Twilio fetches its TwiML once it is answered
    answered_by: Literal["agent", "resident"]  # "agent": an agent first, then the resident
    leg: str  # what the call log names the leg that answers first
    settles: Callable[[Turn], Settled | None]
    values: Mapping[str, str] = field(default_factory=dict)  # its placeholders' fixed values
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # names in its keys

    @property
    def rings_agent_first(self) -> bool:
        return self.answered_by == "agent"


@dataclass(frozen=True)
class ChoiceSettles:
    """A call settled by its question: the option chosen, worded for the worker, or what
    it means when the questions ran out; nothing while it still asks."""

    kind: EventKind
    step: str
    field: str  # the detail the worker reads
    answers: Mapping[str, str]  # option -> its value
    unanswered: str  # the value once the questions ran out

    def __call__(self, turn: Turn) -> Settled | None:
        for event in turn.events:
            option = event.detail.get("option")
            if event.kind == EventKind.CHOICE and option in self.answers:
                return Settled(self.kind, self.step, {self.field: self.answers[str(option)]})
            if event.kind == EventKind.RETRIES_EXHAUSTED:
                return Settled(self.kind, self.step, {self.field: self.unanswered})
        return None


# 1 takes the callback; asked twice without it, the callback goes to someone else.
AGENT_ANSWER = ChoiceSettles(
    EventKind.CALLBACK_AGENT, "agent", "answer", {"1": "accepted"}, unanswered="declined"
)
# A rating, or "" when the resident gave none.
RATING = ChoiceSettles(
    EventKind.SURVEY_RATED,
    "rated",
    "rating",
    {str(rating): str(rating) for rating in RATINGS},
    unanswered="",
)


CALLBACK = OutboundCall(
    name="callback",
    kind=CallbackKind.RESIDENT,
    path="/voice/callback/agent",
    answered_by="agent",
    leg="agent",
    settles=AGENT_ANSWER,
    values={"count": str(MAX_TRIES), "minutes": str(int(RETRY_AFTER.total_seconds() // 60))},
    choices={"src": SOURCES, "topic": TOPICS},
)
SURVEY = OutboundCall(  # 回访 (R5, R6)
    name="survey",
    kind=CallbackKind.SURVEY,
    path="/voice/callback/survey",
    answered_by="resident",
    leg="survey",
    settles=RATING,
    choices={"topic": ("repair", "complaint")},
)
# 1 takes the emergency order; asked twice without it, the next rung is alerted.
ENGINEER_ANSWER = ChoiceSettles(
    EventKind.ENGINEER_ANSWER, "answer", "answer", {"1": "accepted"}, unanswered="declined"
)
ALERT = OutboundCall(  # gas and fire: the on-call engineer alerted while the caller leaves
    name="alert",
    kind=CallbackKind.ALERT,
    path="/voice/callback/alert",
    answered_by="resident",  # the engineer rung answers it, with nobody first
    leg="engineer",
    settles=ENGINEER_ANSWER,
    choices={"emg": EMERGENCIES},
)
OUTBOUND_CALLS: tuple[OutboundCall, ...] = (CALLBACK, SURVEY, ALERT)


def outbound_call(kind: CallbackKind) -> OutboundCall:
    return next(call for call in OUTBOUND_CALLS if call.kind == kind)


@dataclass(frozen=True)
class Place:
    """Where a webhook lands in a call we placed: its call, and the node its path names
    (None: the call was just answered)."""

    call: OutboundCall
    engine: FlowEngine
    node: Node | None = None


class OutboundFlows:
    """The calls we place as running flows, found by the path Twilio calls."""

    def __init__(self, places: Mapping[str, Place]) -> None:
        self._places = dict(places)

    def at(self, path: str) -> Place | None:
        return self._places.get(path)


def check_outbound_flow(
    call: OutboundCall, catalogues: Mapping[str, Catalogue], folder: Path | None = None
) -> Flow:
    """Its flow, which holds in every catalogue (start-up, `ivr flows` and CI stop on it)."""
    path = folder / f"{call.name}.yaml" if folder else flow_path(call.name)
    flow = load_flow(path)
    validate_flow(flow, catalogues, call.choices)
    return flow


def build_outbound_flows(
    catalogues: Mapping[str, Catalogue],
    settings: Settings,
    clock: Clock,
    calls: Iterable[OutboundCall] = OUTBOUND_CALLS,
    folder: Path | None = None,
) -> OutboundFlows:
    """Every call we place, loaded and checked; its state is its leg (`ivr.callbacks.legs`)."""
    places: dict[str, Place] = {}
    for call in calls:
        flow = check_outbound_flow(call, catalogues, folder)
        engine = FlowEngine(
            flow, catalogues, settings, clock, state_query=leg_query, values=call.values
        )
        found = [(call.path, None)] + [
            (node.path or "", node) for node in flow.nodes.values() if node.type in BY_PATH
        ]
        for path, node in found:
            if not path.startswith("/voice/callback/") or path in {*places, STATUS_PATH}:
                where = node.name if node else "its answer"
                raise FlowError(
                    f"flow {call.name!r}: {where} needs a path of its own under "
                    f"/voice/callback/, not {path!r}"
                )
            places[path] = Place(call, engine, node)
    return OutboundFlows(places)
