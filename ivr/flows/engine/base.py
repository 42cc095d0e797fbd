"""What every part of the engine shares: the flow, prompts and clock it was built with,
the walk from node to node, and the words it speaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ivr.config import Settings
from ivr.core.clock import Clock
from ivr.core.events import CallEvent, EventKind
from ivr.core.prompts import Catalogue
from ivr.core.ticket_numbers import TicketNumbering, spoken_digits
from ivr.core.units import unit_parts
from ivr.core.verbs import Speech
from ivr.flows.definition import Flow, Node
from ivr.flows.engine.state import (
    DONE,
    LATER,
    MAX_HOPS,
    NO_SLOT,
    Caller,
    CallState,
    Hop,
    PromptValues,
    Reply,
    Turn,
)
from ivr.flows.lookup import CallerLookup, NobodyKnown
from ivr.flows.sealed_state import seal_for
from ivr.flows.speech import Listener

SilentHandler = Callable[[Caller, Node, CallState, Turn], Hop]
ReplyHandler = Callable[[Caller, Node, CallState, Reply, Turn], None]
# How a call's state is written into a URL Twilio calls back; `counted`: with the failures
# so far, for the URL a question's answer comes back to.
StateQuery = Callable[[CallState, bool], str]


class EngineBase:
    """The engine's parts and the walk; each kind of node is a part of its own."""

    def __init__(
        self,
        flow: Flow,
        catalogues: Mapping[str, Catalogue],
        settings: Settings,
        clock: Clock,
        lookup: Callable[[], CallerLookup] = NobodyKnown,
        numbers: TicketNumbering | None = None,
        state_query: StateQuery | None = None,
        values: Mapping[str, str] | None = None,
        speech_in_background: bool = False,
    ) -> None:
        self.flow = flow
        self.catalogues = catalogues
        self.settings = settings
        self.clock = clock
        self.lookup = lookup
        self.numbers = numbers
        self.seal = seal_for(settings.state_key, settings.secret_key)
        # How a call's state is written into the URLs Twilio calls back: sealed for the
        # inbound call; an outbound leg's flow writes its leg as the dispatcher did.
        self.state_query = state_query or (lambda state, counted: state.as_query(self.seal))
        # Placeholders every prompt may use; a flow for a call we place adds its own.
        self.values = {
            "hotline_name": settings.hotline_name,
            "hotline_number": settings.hotline_number,
            "business_hours": str(settings.business_hours),
            **(values or {}),
        }
        self.voices = {locale: catalogue.voice for locale, catalogue in catalogues.items()}
        # Trained once per process for the same examples; a web process trains in the
        # background so it answers its first call at once.
        # The host's web processes share what one of them learned (IVR_DATA_DIR/speech).
        cache = settings.data_dir / "speech" if speech_in_background else None
        self.listener = Listener(flow, background=speech_in_background, cache=cache)
        self._silent = self._silent_nodes()
        self._replies = self._reply_handlers()

    def restart(self, call: Caller, state: CallState) -> Turn:
        """A request we cannot place (odd or missing parameters): start the menu again."""
        locale = state.locale if state.locale in self.catalogues else self.settings.default_locale
        turn = Turn()
        self._run(call, CallState(self.flow.start, locale, state.seq), turn)
        return turn

    def _run(self, call: Caller, state: CallState, turn: Turn) -> None:
        """Walk from `state.node` through silent nodes to the next one that needs the caller."""
        for _ in range(MAX_HOPS):
            node = self.flow.node(state.node)
            turn.events.append(self._event(call, state, EventKind.ENTERED))
            silent = self._silent.get(node.type)
            if silent is None:
                hop = self._interact(call, node, state, turn)
            else:
                hop = silent(call, node, state, turn)
            if hop is None:
                return
            target, state = hop
            state = state.at(self._target(target, state))
        raise RuntimeError(f"flow {self.flow.name!r} does not reach the caller from {state.node!r}")

    def _target(self, target: str, state: CallState) -> str:
        """`$name` targets come from what the call remembered (a sub-flow's return address)."""
        if target.startswith("$"):
            remembered = state.value(target[1:])
            return remembered if remembered in self.flow.nodes else self.flow.start
        return target

    def _preferred_locale(self, number: str) -> str:
        """R: a resident's remembered language choice, else the hotline's default."""
        for home in self.lookup().households(number):
            if home.language in self.catalogues:
                return home.language
        return self.settings.default_locale

    def _locale(self, locale: str) -> str:
        return locale if locale in self.catalogues else self.settings.default_locale

    def _url(self, path: str, state: CallState, counted: bool = True) -> str:
        return f"{path}?{self.state_query(state, counted)}"

    def _prompts(self, node: Node, state: CallState, first_ask: bool = False) -> list[Speech]:
        keys = node.spoken if first_ask else node.prompts
        return [
            speech
            for key in keys
            for speech in self._speak(state, self._numbered(self._key(key, state), state))
        ]

    def _key(self, template: str, state: CallState) -> str:
        """A prompt key that names what the call knows (``callback.agent.{src}``)."""
        return template.format_map(PromptValues(state.data)) if "{" in template else template

    def _numbered(self, key: str, state: CallState) -> str:
        """A prompt that reads the ticket number, when no number was at hand: the
        variant that says it comes by SMS (the worker numbers the ticket)."""
        prompts = self.catalogues[state.locale].prompts
        later = f"{key}{LATER}"
        if not state.value("no") and later in prompts:
            key = later
        # A prompt that names the visit slot, when none was chosen: the variant without it.
        no_slot = f"{key}{NO_SLOT}"
        if not state.value("slot") and no_slot in prompts:
            key = no_slot
        # A prompt worded for what the call did (system.goodbye.faq): the goodbye fits.
        done = f"{key}.{state.value(DONE)}"
        if state.value(DONE) and done in prompts:
            key = done
        return key

    def _prompt_values(self, state: CallState, extra: Mapping[str, str]) -> PromptValues:
        values = PromptValues(self.values)
        if state.locale.startswith("en"):  # English callers hear no Chinese
            values["hotline_name"] = self.settings.hotline_name_en
        values["unit_label"] = self._unit_words(state, state.value("ul"))
        values["ticket_number"] = spoken_digits(state.value("no"))
        values["building"], values["room"] = state.value("building"), state.value("room")
        if state.value("slot"):
            values["slot"] = self._word(state, f"slot.{state.value('slot')}")
        for name, word in self.flow.words.items():
            known = state.value(word.known) if word.known else ""
            values[name] = known or self._word(state, self._key(word.key, state))
        values.update(extra)
        return values

    def _unit_words(self, state: CallState, label: str) -> str:
        """A unit as the caller hears it: 3栋2单元501室 in Mandarin, "Block 3, Entrance 2,
        Flat 501" in English, worded from its parts (free text is read as written)."""
        parts = unit_parts(label)
        if parts is None:
            return label
        key = "unit.spoken" if parts.entrance else "unit.spoken_no_entrance"
        prompt = self.catalogues[state.locale].prompts.get(key)
        if prompt is None:
            return label
        return prompt.text.format(building=parts.building, entrance=parts.entrance, room=parts.room)

    def _word(self, state: CallState, key: str) -> str:
        """A word or phrase from the catalogue (slot names, statuses), with what the call
        knows filled in (``尾号{phone_tail}``)."""
        prompt = self.catalogues[state.locale].prompts.get(key)
        return prompt.text.format_map(PromptValues(state.data)) if prompt else ""

    def _text(self, state: CallState, key: str, **extra: str) -> str:
        catalogue = self.catalogues[state.locale]
        prompt = catalogue.prompts.get(key)
        return prompt.text.format_map(self._prompt_values(state, extra)) if prompt else ""

    def _speak(self, state: CallState, key: str, **extra: str) -> list[Speech]:
        values = self._prompt_values(state, extra)
        return self.catalogues[state.locale].speech(key, values, self.voices)

    def _event(
        self, call: Caller, state: CallState, what: EventKind, /, **detail: Any
    ) -> CallEvent:
        return CallEvent(
            call.sid, what, self.clock.now(), seq=state.seq, node=state.node, detail=detail
        )

    def _silent_nodes(self) -> dict[str, SilentHandler]:
        """Each silent node type's handler (`FlowEngine`, which has every part)."""
        raise NotImplementedError

    def _reply_handlers(self) -> dict[str, ReplyHandler]:
        """Each question type's handler for the caller's answer (`FlowEngine`)."""
        raise NotImplementedError

    def _interact(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop | None:
        """A node that needs the caller: asks, or hands the call on (`FlowEngine`)."""
        raise NotImplementedError
