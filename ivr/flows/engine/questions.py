"""Nodes that ask the caller in a <Gather> (menu, collect, describe, appointment,
rating), and what their answers lead to.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ivr.core.events import EventKind
from ivr.core.hours import appointment_slots
from ivr.core.verbs import Gather, Redirect, Speech
from ivr.flows.definition import REPEAT, Node, Option
from ivr.flows.engine.base import EngineBase
from ivr.flows.engine.state import (
    GATHER_INPUT,
    STEP_PATH,
    Caller,
    CallState,
    Reply,
    Turn,
    whole_number,
)
from ivr.flows.speech import option_for_speech, speech_hints


class Questions(EngineBase):
    def _ask(self, node: Node, state: CallState, turn: Turn, prompts: list[Speech]) -> None:
        voice = self.catalogues[state.locale].voice
        action = self._url(node.path or STEP_PATH, state)
        turn.verbs.append(
            Gather(
                action=action,
                prompts=tuple(prompts),
                language=voice.gather_language,
                timeout_s=node.timeout_s,
                hints=speech_hints(node, state.locale),
                num_digits=0 if node.type == "collect" else 1,
                input=node.input or GATHER_INPUT[node.type],
            )
        )
        # Twilio falls through to the next verb when nothing was gathered.
        turn.verbs.append(Redirect(action))

    def _slot_prompts(self, node: Node, state: CallState) -> list[Speech]:
        slots = appointment_slots(self.settings, self.clock.now())
        verbs = self._prompts(node, state)
        for index, slot in enumerate(slots, start=1):
            verbs += self._speak(
                state,
                "appointment.option",
                slot=self._word(state, f"slot.{slot.id}"),
                digit=str(index),
            )
        return verbs

    def _menu_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        option = self._choose(call, node, state, reply, turn)
        if option is None:
            self._failed(call, node, state, reply, turn)
            return
        if option.goto == REPEAT:
            self._run(call, state.at(node.name), turn)
            return
        if option.category:
            turn.events.append(self._event(call, state, EventKind.ROUTED, category=option.category))
        state = state.remember(option.set)
        self._run(call, state.at(self._target(option.goto, state)), turn)

    def _collect_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        digits = reply.digits.rstrip("#")
        if not digits.isdigit() or len(digits) > node.max_digits:
            self._failed(call, node, state, reply, turn)
            return
        turn.events.append(
            self._event(call, state, EventKind.CHOICE, digits=digits, field=node.save_as)
        )
        self._run(call, state.remember({str(node.save_as): digits}).at(str(node.next)), turn)

    def _describe_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        if not reply.speech:
            turn.events.append(self._event(call, state, EventKind.NO_INPUT))
            self._run(call, state.at(self._target(str(node.exhausted), state)), turn)
            return
        turn.events.append(
            self._event(
                call, state, EventKind.DESCRIBED, text=reply.speech, confidence=reply.confidence
            )
        )
        self._run(call, state.remember({str(node.save_as): reply.speech}).at(str(node.next)), turn)

    def _appointment_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        slots = appointment_slots(self.settings, self.clock.now())
        index = whole_number(reply.digits) - 1 if reply.digits.isdigit() else -1
        if not 0 <= index < len(slots):
            self._failed(call, node, state, reply, turn)
            return
        slot = slots[index]
        turn.events.append(
            self._event(
                call,
                state,
                EventKind.SLOT_CHOSEN,
                slot=slot.id,
                start=slot.start.isoformat(),
                end=slot.end.isoformat(),
            )
        )
        chosen = {"slot": slot.id, "from": slot.start.isoformat(), "to": slot.end.isoformat()}
        self._run(call, state.remember(chosen).at(str(node.next)), turn)

    def _rating_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        # The rating is optional (R9): an answer is thanked, silence is not pressed for.
        if reply.digits in {"1", "2", "3"}:
            turn.events.append(self._event(call, state, EventKind.RATED, rating=int(reply.digits)))
            turn.verbs += self._speak(state, "rating.thanks")
        self._run(call, state.at(str(node.next)), turn)

    def _choose(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> Option | None:
        detail: dict[str, Any]
        if reply.digits:
            option = node.options.get(reply.digits)
            kind, detail = EventKind.CHOICE, {"digits": reply.digits}
        elif reply.speech:
            option = option_for_speech(node, reply.speech)
            kind, detail = EventKind.SPEECH, {"text": reply.speech, "confidence": reply.confidence}
        else:
            return None
        detail["option"] = option.key if option else None
        detail["goto"] = option.goto if option else None
        turn.events.append(self._event(call, state, kind, **detail))
        return option

    def _failed(self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn) -> None:
        silent = reply.silent
        state = replace(
            state, no_input=state.no_input + silent, no_match=state.no_match + (not silent)
        )
        kind = EventKind.NO_INPUT if silent else EventKind.INVALID_INPUT
        turn.events.append(self._event(call, state, kind, failures=state.failures))
        if state.failures >= max(node.retries, 1):
            turn.events.append(self._event(call, state, EventKind.RETRIES_EXHAUSTED))
            self._run(call, state.at(self._target(str(node.exhausted), state)), turn)
            return
        turn.verbs += self._speak(state, "system.no_input" if silent else "system.invalid")
        self._interact(call, node, state, turn)
