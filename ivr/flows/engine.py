"""One small engine that runs a flow definition.

Everything it needs is in memory: the flow, the prompt catalogues, the clock
and the caller's position, which travels in the action URLs Twilio calls back
(Twilio signs those URLs, so the position cannot be forged). A webhook thus
never reads a database or Redis to know where a caller is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from ivr.clock import Clock
from ivr.config import Settings
from ivr.events import CallEvent, EventKind
from ivr.flows.definition import REPEAT, Flow, Node, Option
from ivr.flows.speech import clean_digits, clean_speech, option_for_speech, speech_hints
from ivr.hours import office_is_open
from ivr.prompts import Catalogue
from ivr.verbs import Enqueue, Gather, Hangup, Pause, Play, Record, Redirect, Say, Speech, Verb

MAX_HOPS = 50  # belt and braces: the validator already forbids silent loops
SORRY_AFTER_WAIT_S = 30  # R8: a caller who has waited hears an apology
QUEUE_HOLD_PAUSE_S = 20


@dataclass(frozen=True)
class CallState:
    """Where a caller is: the node, the language, the step number and failures so far."""

    node: str
    locale: str
    seq: int = 0
    no_input: int = 0
    no_match: int = 0

    @property
    def failures(self) -> int:
        return self.no_input + self.no_match

    def as_query(self) -> str:
        return urlencode(
            {
                "node": self.node,
                "lang": self.locale,
                "seq": self.seq,
                "ni": self.no_input,
                "nm": self.no_match,
            }
        )


@dataclass(frozen=True)
class Reply:
    """What the caller did at a <Gather>: keys pressed, words spoken, or nothing."""

    digits: str = ""
    speech: str = ""
    confidence: float | None = None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Reply:
        try:
            confidence: float | None = float(form.get("Confidence", ""))
        except ValueError:
            confidence = None
        return cls(
            clean_digits(form.get("Digits", "")),
            clean_speech(form.get("SpeechResult", "")),
            confidence,
        )


@dataclass(frozen=True)
class Recording:
    url: str
    sid: str
    duration_s: int


@dataclass
class Turn:
    """One webhook's answer: verbs for the telephone, events for the call log."""

    verbs: list[Verb] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)


class FlowEngine:
    def __init__(
        self,
        flow: Flow,
        catalogues: Mapping[str, Catalogue],
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.flow = flow
        self.catalogues = catalogues
        self.settings = settings
        self.clock = clock
        self.values = {
            "hotline_name": settings.hotline_name,
            "hotline_number": settings.hotline_number,
            "business_hours": str(settings.business_hours),
        }

    # --- entry points, one per webhook -------------------------------------------------

    def answer(self, call_sid: str, caller: Mapping[str, Any]) -> Turn:
        """A new call: log it, greet first (R1/R2), then run to the first question."""
        state = CallState(self.flow.start, self.settings.default_locale)
        turn = Turn()
        now = self.clock.now()
        turn.events.append(CallEvent(call_sid, EventKind.CALL_STARTED, now, detail=dict(caller)))
        turn.events.append(CallEvent(call_sid, EventKind.GREETED, now, node=state.node))
        self._run(call_sid, state, turn)
        return turn

    def step(self, call_sid: str, state: CallState, reply: Reply) -> Turn:
        """The caller answered (or did not answer) a menu."""
        node = self.flow.nodes.get(state.node)
        if node is None or node.type != "menu":
            return self.restart(call_sid, state)
        turn = Turn()
        option = self._choose(call_sid, node, state, reply, turn)
        if option is None:
            return self._failed(call_sid, node, state, reply, turn)
        if option.goto == REPEAT:
            self._run(call_sid, replace(state, no_input=0, no_match=0), turn)
            return turn
        if option.category:
            turn.events.append(
                self._event(call_sid, state, EventKind.ROUTED, category=option.category)
            )
        self._run(call_sid, CallState(option.goto, state.locale, state.seq), turn)
        return turn

    def restart(self, call_sid: str, state: CallState) -> Turn:
        """A request we cannot place (odd or missing parameters): start the menu again."""
        locale = state.locale if state.locale in self.catalogues else self.settings.default_locale
        turn = Turn()
        self._run(call_sid, CallState(self.flow.start, locale, state.seq), turn)
        return turn

    def queue_result(self, call_sid: str, state: CallState, result: str) -> Turn:
        """The caller left a queue: served, hung up, or still needing us."""
        turn = Turn()
        turn.events.append(self._event(call_sid, state, EventKind.QUEUE_RESULT, result=result))
        node = self.flow.nodes.get(state.node)
        if result == "bridged":
            turn.verbs += [*self._speak(state.locale, "system.goodbye"), Hangup()]
        elif result != "hangup" and node is not None and node.after:
            self._run(call_sid, CallState(node.after, state.locale, state.seq), turn)
        return turn

    def message_left(self, call_sid: str, state: CallState, recording: Recording | None) -> Turn:
        """After a <Record>: thank the caller if we got something, then close politely."""
        turn = Turn()
        node = self.flow.nodes.get(state.node)
        if recording is None:
            turn.events.append(self._event(call_sid, state, EventKind.MESSAGE_EMPTY))
        else:
            turn.events.append(
                self._event(
                    call_sid,
                    state,
                    EventKind.MESSAGE_RECORDED,
                    recording_url=recording.url,
                    recording_sid=recording.sid,
                    duration_s=recording.duration_s,
                )
            )
            turn.verbs += self._speak(state.locale, "system.message_thanks")
        target = node.next if node is not None and node.type == "message" else None
        if target:
            self._run(call_sid, CallState(target, state.locale, state.seq), turn)
        else:
            turn.verbs += [*self._speak(state.locale, "system.goodbye"), Hangup()]
        return turn

    def queue_wait(self, locale: str, waited_s: int) -> list[Verb]:
        """What a queued caller hears while waiting; Twilio fetches it again when it ends."""
        locale = locale if locale in self.catalogues else self.settings.default_locale
        verbs: list[Verb] = []
        if waited_s >= SORRY_AFTER_WAIT_S:
            verbs += self._speak(locale, "system.queue_sorry")
        return [*verbs, *self._speak(locale, "system.queue_hold"), Pause(QUEUE_HOLD_PAUSE_S)]

    def fallback(self, record_action: str) -> list[Verb]:
        """Our apology when the main path failed: built once, needs no database or Redis."""
        locale = self.settings.default_locale
        return [
            *self._speak(locale, "system.fallback_apology"),
            Record(action=record_action, max_length_s=120),
            *self._speak(locale, "system.goodbye"),
            Hangup(),
        ]

    def goodbye(self, locale: str, thanks: bool = False) -> list[Verb]:
        locale = locale if locale in self.catalogues else self.settings.default_locale
        verbs = self._speak(locale, "system.message_thanks") if thanks else []
        return [*verbs, *self._speak(locale, "system.goodbye"), Hangup()]

    # --- the walk ----------------------------------------------------------------------

    def _run(self, call_sid: str, state: CallState, turn: Turn) -> None:
        """Walk from `state.node` through silent nodes to the next one that needs the caller."""
        locale = state.locale
        name = state.node
        for _ in range(MAX_HOPS):
            node = self.flow.node(name)
            turn.events.append(self._event(call_sid, state, EventKind.ENTERED, node=name))
            turn.verbs += [
                v for key in node.prompts if node.type != "menu" for v in self._speak(locale, key)
            ]
            nxt = self._next(call_sid, node, replace(state, node=name, locale=locale), turn)
            if nxt is None:
                return
            name, locale = nxt
        raise RuntimeError(f"flow {self.flow.name!r} does not reach the caller from {state.node!r}")

    def _next(
        self, call_sid: str, node: Node, state: CallState, turn: Turn
    ) -> tuple[str, str] | None:
        """Where a silent node leads, or None once an interactive node has spoken."""
        if node.type == "say":
            return str(node.next), state.locale
        if node.type == "hours":
            target = node.open if office_is_open(self.settings, self.clock.now()) else node.closed
            return str(target), state.locale
        if node.type == "language":
            locale = node.switch[state.locale]
            turn.events.append(self._event(call_sid, state, EventKind.LANGUAGE, locale=locale))
            return str(node.next), locale
        self._interact(call_sid, node, state, turn)
        return None

    def _interact(self, call_sid: str, node: Node, state: CallState, turn: Turn) -> None:
        following = CallState(node.name, state.locale, state.seq + 1)
        if node.type == "menu":
            self._ask(node, following, turn)
        elif node.type == "queue":
            turn.events.append(
                self._event(
                    call_sid, state, EventKind.HANDOFF, queue=node.queue, category=node.category
                )
            )
            turn.verbs.append(
                Enqueue(
                    queue=str(node.queue),
                    wait_url="/voice/queue/wait?" + urlencode({"lang": state.locale}),
                    action="/voice/queue/result?" + following.as_query(),
                )
            )
        elif node.type == "message":
            turn.events.append(self._event(call_sid, state, EventKind.MESSAGE_OFFERED))
            action = "/voice/message?" + following.as_query()
            turn.verbs += [
                Record(action=action, max_length_s=node.max_length_s),
                Redirect(action + "&empty=1"),
            ]
        elif node.type == "hangup":
            turn.events.append(self._event(call_sid, state, EventKind.CLOSED_BY_IVR))
            turn.verbs.append(Hangup())

    def _ask(
        self, node: Node, state: CallState, turn: Turn, lead_in: list[Speech] | None = None
    ) -> None:
        voice = self.catalogues[state.locale].voice
        action = "/voice/step?" + state.as_query()
        turn.verbs += lead_in or []
        turn.verbs.append(
            Gather(
                action=action,
                prompts=tuple(self._speak(state.locale, node.prompts[0])),
                language=voice.gather_language,
                timeout_s=node.timeout_s,
                hints=speech_hints(node, state.locale),
            )
        )
        # Twilio falls through to the next verb when nothing was gathered.
        turn.verbs.append(Redirect(action))

    def _choose(
        self, call_sid: str, node: Node, state: CallState, reply: Reply, turn: Turn
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
        turn.events.append(self._event(call_sid, state, kind, **detail))
        return option

    def _failed(
        self, call_sid: str, node: Node, state: CallState, reply: Reply, turn: Turn
    ) -> Turn:
        silent = not (reply.digits or reply.speech)
        state = replace(
            state, no_input=state.no_input + silent, no_match=state.no_match + (not silent)
        )
        kind = EventKind.NO_INPUT if silent else EventKind.INVALID_INPUT
        turn.events.append(self._event(call_sid, state, kind, failures=state.failures))
        if state.failures >= node.retries:
            turn.events.append(self._event(call_sid, state, EventKind.RETRIES_EXHAUSTED))
            self._run(call_sid, CallState(str(node.exhausted), state.locale, state.seq), turn)
            return turn
        sorry = self._speak(state.locale, "system.no_input" if silent else "system.invalid")
        self._ask(node, replace(state, seq=state.seq + 1), turn, lead_in=sorry)
        return turn

    # --- small helpers -----------------------------------------------------------------

    def _speak(self, locale: str, key: str) -> list[Speech]:
        catalogue = self.catalogues[locale]
        prompt = catalogue.render(key, self.values)
        if prompt.audio:
            return [
                Play(
                    prompt.audio
                    if prompt.audio.startswith("https://")
                    else f"/media/prompts/{prompt.audio}"
                )
            ]
        return [Say(prompt.text, catalogue.voice.say_voice, catalogue.voice.say_language)]

    def _event(
        self, call_sid: str, state: CallState, kind: EventKind, node: str = "", **detail: Any
    ) -> CallEvent:
        return CallEvent(
            call_sid, kind, self._now(), seq=state.seq, node=node or state.node, detail=detail
        )

    def _now(self) -> datetime:
        return self.clock.now()
