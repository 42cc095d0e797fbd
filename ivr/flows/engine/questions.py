"""Nodes that ask the caller in a <Gather> (menu, collect, describe, appointment,
rating), and what their answers lead to.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ivr.core.events import EventKind
from ivr.core.hours import appointment_slots
from ivr.core.verbs import Gather, Redirect, Speech
from ivr.flows.definition import REPEAT, Node
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
from ivr.flows.speech import Heard, speech_hints
from ivr.flows.speech.slots import digits_said, unit_said, visit_said

GUESS = "guess"  # the option a caller was asked back about, remembered until they answer
DISSATISFIED = "3"  # the rating key of 不满意


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
        if state.value(GUESS) in node.options:
            self._asked_back_reply(call, node, state, reply, turn)
            return
        heard = self._choose(call, node, state, reply, turn)
        if heard.option is None:
            self._failed(call, node, state, reply, turn, understood=not reply.speech)
        elif not heard.sure:
            self._ask_back(call, node, state, heard, turn)
        else:
            self._chosen(call, node, state, heard, turn)

    def _chosen(self, call: Caller, node: Node, state: CallState, heard: Heard, turn: Turn) -> None:
        option = heard.option
        assert option is not None
        if option.goto == REPEAT:
            self._run(call, state.at(node.name), turn)
            return
        if heard.emergency:
            said = {"kind": option.set.get("emg", option.key), "words": list(heard.words)}
            turn.events.append(self._event(call, state, EventKind.EMERGENCY_HEARD, **said))
        if option.category:
            turn.events.append(self._event(call, state, EventKind.ROUTED, category=option.category))
        state = state.remember({GUESS: "", **option.set})
        self._run(call, state.at(self._target(option.goto, state)), turn)

    def _ask_back(
        self, call: Caller, node: Node, state: CallState, heard: Heard, turn: Turn
    ) -> None:
        """「您是要报修吗？是请按1，不是请按2」: better than refusing half-understood speech."""
        option = heard.option
        assert option is not None
        turn.events.append(
            self._event(call, state, EventKind.ASKED_BACK, option=option.key, score=heard.score)
        )
        choice = option.label.get(state.locale) or next(iter(option.label.values()), "")
        asking = replace(state.remember({GUESS: option.key}), seq=state.seq + 1)
        self._ask(node, asking, turn, self._speak(state, "speech.ask_back", choice=choice))

    def _asked_back_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        """1 or yes: the guess; 2 or no: the menu again; anything else: heard afresh."""
        guess = node.options[state.value(GUESS)]
        answer = ""
        if reply.digits in {"1", "2"}:
            answer = "yes" if reply.digits == "1" else "no"
        elif reply.speech:
            answer = self.listener.yes_or_no(reply.speech, state.locale) or ""
        detail = {"asked": guess.key, "answer": answer or None}
        if reply.digits:
            turn.events.append(
                self._event(call, state, EventKind.CHOICE, digits=reply.digits, **detail)
            )
        elif reply.speech:
            said = {"text": reply.speech, "confidence": reply.confidence}
            turn.events.append(self._event(call, state, EventKind.SPEECH, **said, **detail))
        forgotten = state.remember({GUESS: ""})
        if answer == "yes":
            self._chosen(call, node, forgotten, Heard(guess, "answer"), turn)
        elif answer == "no":
            turn.verbs += self._speak(state, "speech.ask_again")
            self._interact(call, node, replace(forgotten, no_match=forgotten.no_match + 1), turn)
        elif reply.speech:
            self._menu_reply(call, node, forgotten, reply, turn)
        else:
            self._failed(call, node, forgotten, reply, turn)

    def _collect_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        if reply.speech and not reply.digits:
            self._collect_said(call, node, state, reply, turn)
            return
        digits = reply.digits.rstrip("#")
        if node.optional and not digits:
            # Skipped (# alone, or nothing): the question may go unanswered (a 单元).
            turn.events.append(
                self._event(call, state, EventKind.CHOICE, digits="", field=node.save_as)
            )
            self._run(call, state.remember({str(node.save_as): ""}).at(str(node.next)), turn)
            return
        if not digits.isdigit() or len(digits) > node.max_digits:
            self._failed(call, node, state, reply, turn)
            return
        turn.events.append(
            self._event(call, state, EventKind.CHOICE, digits=digits, field=node.save_as)
        )
        self._run(call, state.remember({str(node.save_as): digits}).at(str(node.next)), turn)

    def _collect_said(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        """Digits said instead of keyed (「一二零三零零七」); where the node allows it, a
        whole unit in one sentence (「3栋2单元501」) skips the questions that would ask it."""
        said = {"text": reply.speech, "confidence": reply.confidence, "field": node.save_as}
        if self._emergency_instead(call, node, state, reply, turn, said):
            return
        unit = unit_said(reply.speech) if node.unit_said else None
        if unit is not None:
            turn.events.append(self._event(call, state, EventKind.SPEECH, **said, unit=unit.label))
            parts = {"building": unit.building, "room": unit.room, "entrance": unit.entrance}
            self._run(call, state.remember(parts).at(str(node.unit_said)), turn)
            return
        digits = digits_said(reply.speech, node.max_digits)
        turn.events.append(self._event(call, state, EventKind.SPEECH, **said, digits=digits))
        if not digits:
            self._failed(call, node, state, reply, turn, understood=False)
            return
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
        state = state.remember({str(node.save_as): reply.speech})
        # An ordinary repair that turns out to be an emergency goes the emergency way, its
        # description kept for the order.
        if not self._emergency_instead(call, node, state, reply, turn):
            self._run(call, state.at(str(node.next)), turn)

    def _emergency_instead(
        self,
        call: Caller,
        node: Node,
        state: CallState,
        reply: Reply,
        turn: Turn,
        said: dict[str, Any] | None = None,
    ) -> bool:
        """An emergency told instead of the answer asked for (「煤气味特别大」 when asked for
        the building) goes the emergency way at once; not on a call already on it."""
        if not reply.speech or state.value("emg"):
            return False
        heard = self.listener.emergency(node, state.locale, reply.speech)
        if heard is None or not heard.sure:
            return False
        if said is not None:
            turn.events.append(self._event(call, state, EventKind.SPEECH, **said))
        self._chosen(call, node, state, heard, turn)
        return True

    def _appointment_reply(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> None:
        slots = appointment_slots(self.settings, self.clock.now())
        index = whole_number(reply.digits) - 1 if reply.digits.isdigit() else -1
        if reply.speech and not reply.digits:
            said = {"text": reply.speech, "confidence": reply.confidence}
            if self._emergency_instead(call, node, state, reply, turn, said):
                return
            index = _slot_said(reply.speech, [slot.id for slot in slots])
        if not 0 <= index < len(slots):
            self._failed(call, node, state, reply, turn, understood=not reply.speech)
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
        # 不满意 is flagged for the supervisor and gets an apology and a way on instead.
        if reply.digits == DISSATISFIED and node.dissatisfied:
            flagged = self._event(call, state, EventKind.RATED, rating=3, dissatisfied=True)
            turn.events.append(flagged)
            self._run(call, state.at(node.dissatisfied), turn)
            return
        if reply.digits in {"1", "2", "3"}:
            turn.events.append(self._event(call, state, EventKind.RATED, rating=int(reply.digits)))
            turn.verbs += self._speak(state, "rating.thanks")
        self._run(call, state.at(str(node.next)), turn)

    def _choose(
        self, call: Caller, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> Heard:
        detail: dict[str, Any]
        if reply.digits:
            option = node.options.get(reply.digits)
            heard = Heard(option, "key") if option else Heard()
            kind, detail = EventKind.CHOICE, {"digits": reply.digits}
        elif reply.speech:
            heard = self.listener.hear(node, state.locale, reply.speech)
            kind = EventKind.SPEECH
            detail = {"text": reply.speech, "confidence": reply.confidence, "via": heard.via}
            detail |= {"score": round(heard.score, 3), "words": list(heard.words)}
        else:
            return Heard()
        option = heard.option if heard.sure else None
        detail["option"] = option.key if option else None
        detail["goto"] = option.goto if option else None
        turn.events.append(self._event(call, state, kind, **detail))
        return heard

    def _failed(
        self,
        call: Caller,
        node: Node,
        state: CallState,
        reply: Reply,
        turn: Turn,
        understood: bool = True,
    ) -> None:
        """No answer, a wrong key, or speech we did not understand (`understood` False):
        say so, then ask again, until the node's retries are used up."""
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
        sorry = "system.no_input" if silent else "system.invalid"
        turn.verbs += self._speak(state, sorry if understood else "system.not_understood")
        self._interact(call, node, state, turn)


def _slot_said(speech: str, slot_ids: list[str]) -> int:
    """The offered slot a caller named (「明天上午」「第二个」), or -1."""
    visit = visit_said(speech)
    if visit is None:
        return -1
    if visit.ordinal:
        return visit.ordinal - 1
    return next((i for i, slot_id in enumerate(slot_ids) if visit.fits(slot_id)), -1)
