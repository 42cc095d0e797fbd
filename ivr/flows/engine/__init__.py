"""One small engine that runs a flow definition.

Everything it needs is in memory: the flow, the prompt catalogues, the clock, a
snapshot of the residents registry, and the caller's position, which travels in
the action URLs Twilio calls back (Twilio signs those URLs, so the position
cannot be forged; what the call has learned is sealed, so logs cannot read it).
A webhook thus never reads the database to know where a caller is or who they are.

The engine is one class made of a part per kind of node (`silent`, `questions`,
`handing_on`) over `base`; the call's state and a turn's answer are in `state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ivr.core.events import CallEvent, EventKind
from ivr.core.verbs import Hangup, Record, Verb
from ivr.flows.definition import Node
from ivr.flows.engine.base import ReplyHandler, SilentHandler
from ivr.flows.engine.handing_on import HandingOn
from ivr.flows.engine.questions import Questions
from ivr.flows.engine.silent import SilentNodes
from ivr.flows.engine.state import (
    ASKING,
    QUEUE_HOLD_PAUSE_S,
    Caller,
    CallState,
    Hop,
    QueueWait,
    Recording,
    Reply,
    Turn,
)

__all__ = [
    "QUEUE_HOLD_PAUSE_S",
    "CallState",
    "Caller",
    "FlowEngine",
    "QueueWait",
    "Recording",
    "Reply",
    "Turn",
]


class FlowEngine(SilentNodes, Questions, HandingOn):
    """Runs a flow: one entry point per webhook, each returning a `Turn`."""

    def _silent_nodes(self) -> dict[str, SilentHandler]:
        return {
            "say": self._say,
            "set": self._set,
            "branch": self._branch,
            "hours": self._hours,
            "oncall": self._oncall,
            "language": self._language,
            "identify": self._identify,
            "lookup_unit": self._lookup_unit,
            "ticket": self._ticket,
            "status": self._status,
        }

    def _reply_handlers(self) -> dict[str, ReplyHandler]:
        return {
            "menu": self._menu_reply,
            "collect": self._collect_reply,
            "describe": self._describe_reply,
            "appointment": self._appointment_reply,
            "rating": self._rating_reply,
        }

    def answer(self, call: Caller, details: Mapping[str, Any]) -> Turn:
        """A new call: log it, greet first (R1/R2), then run to the first question."""
        state = CallState(self.flow.start, self._preferred_locale(call.number))
        turn = Turn()
        now = self.clock.now()
        started = {**details, "locale": state.locale}
        turn.events.append(CallEvent(call.sid, EventKind.CALL_STARTED, now, detail=started))
        turn.events.append(CallEvent(call.sid, EventKind.GREETED, now, node=state.node))
        self._run(call, state, turn)
        return turn

    def begin(self, call: Caller, state: CallState) -> Turn:
        """An outbound leg's flow, from the node `state` names to the first question."""
        turn = Turn()
        self._run(call, state, turn)
        return turn

    def step(self, call: Caller, state: CallState, reply: Reply) -> Turn:
        """The caller answered (or did not answer) a question."""
        node = self.flow.nodes.get(state.node)
        handler = self._replies.get(node.type) if node else None
        if node is None or handler is None:
            return self.restart(call, state)
        turn = Turn()
        handler(call, node, state, reply, turn)
        return turn

    def fallback(self, record_action: str) -> list[Verb]:
        """Our apology when the main path failed: built once, needs no database or Redis."""
        state = CallState("", self.settings.default_locale)
        return [
            *self._speak(state, "system.fallback_apology"),
            Record(action=record_action, max_length_s=120),
            *self._speak(state, "system.goodbye"),
            Hangup(),
        ]

    def goodbye(self, locale: str, thanks: bool = False) -> list[Verb]:
        state = CallState("", self._locale(locale))
        verbs = self._speak(state, "system.message_thanks") if thanks else []
        return [*verbs, *self._speak(state, "system.goodbye"), Hangup()]

    def _interact(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop | None:
        following = replace(state, seq=state.seq + 1)
        if node.type == "dial":
            return self._dial(call, node, following, turn)
        if node.type in ASKING:
            prompts = (
                self._slot_prompts(node, state)
                if node.type == "appointment"
                else self._prompts(node, state, first_ask=not state.failures)
            )
            self._ask(node, following, turn, prompts)
            return None
        if node.type == "connect":
            self._connect(node, following, turn)
            return None
        turn.verbs += self._prompts(node, state)  # a whisper is its prompts alone
        if node.type == "queue":
            self._enqueue(call, node, state, following, turn)
        elif node.type in {"message", "record"}:
            self._record(call, node, state, following, turn)
        elif node.type == "hangup":
            turn.events.append(self._event(call, state, EventKind.CLOSED_BY_IVR))
            turn.verbs.append(Hangup())
        return None
