"""One small engine that runs a flow definition.

Everything it needs is in memory: the flow, the prompt catalogues, the clock, a
snapshot of the residents registry, and the caller's position, which travels in
the action URLs Twilio calls back (Twilio signs those URLs, so the position
cannot be forged; what the call has learned is sealed, so logs cannot read it).
A webhook thus never reads the database to know where a caller is or who they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from ivr.config import Settings
from ivr.core.clock import Clock
from ivr.core.events import CallEvent, EventKind
from ivr.core.hours import appointment_slots, office_is_open
from ivr.core.prompts import Catalogue
from ivr.core.ticket_numbers import TicketNumbering, spoken_digits
from ivr.core.verbs import (
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Record,
    Redirect,
    Speech,
    Verb,
)
from ivr.flows.definition import REPEAT, Flow, Node, Option
from ivr.flows.lookup import CallerLookup, Household, NobodyKnown
from ivr.flows.sealed_state import Remembered, StateSeal, seal_for
from ivr.flows.speech import clean_digits, clean_speech, option_for_speech, speech_hints

LATER = "_later"  # the prompt variant for a ticket whose number comes by SMS
MAX_HOPS = 50  # belt and braces: the validator already forbids silent loops
SORRY_AFTER_WAIT_S = 30  # R8: a caller who has waited hears an apology
QUEUE_HOLD_PAUSE_S = 15
WAIT_ROUND_S = 30  # announcements, hold and the choice: about one round every 30 s
# Twilio's QueueResult when a REST redirect took the caller out of the queue.
MOVED_ON = frozenset({"redirected", "redirected-from-bridged"})
MIN_ESTIMATE_S = 60  # never promise less than a minute
DIAL_TIMEOUT_S = 20  # an on-call engineer who has not answered by then gets skipped
MAX_REMEMBERED = 16
MAX_VALUE_CHARS = 200
ANSWERED = {"completed", "answered"}
# Nodes that ask a question in a <Gather>, and what kind of answer each takes.
GATHER_INPUT = {
    "menu": "dtmf speech",
    "collect": "dtmf",
    "describe": "speech",
    "appointment": "dtmf",
    "rating": "dtmf",
}
ASKING = frozenset(GATHER_INPUT)


@dataclass(frozen=True)
class CallState:
    """Where a caller is: node, language, step, failures, and what the call has learned."""

    node: str
    locale: str
    seq: int = 0
    no_input: int = 0
    no_match: int = 0
    data: Remembered = ()

    @property
    def failures(self) -> int:
        return self.no_input + self.no_match

    def value(self, key: str) -> str:
        return dict(self.data).get(key, "")

    def remember(self, values: Mapping[str, str]) -> CallState:
        merged = {**dict(self.data), **{k: str(v)[:MAX_VALUE_CHARS] for k, v in values.items()}}
        kept = {k: v for k, v in merged.items() if v}
        return replace(self, data=tuple(sorted(kept.items()))[:MAX_REMEMBERED])

    def at(self, node: str) -> CallState:
        """The same call at another node, with a clean slate of failures."""
        return replace(self, node=node, no_input=0, no_match=0)

    def as_query(self, seal: StateSeal) -> str:
        """The position in plain parameters; what the call has learned sealed in `d`."""
        fields: dict[str, str | int] = {
            "node": self.node,
            "lang": self.locale,
            "seq": self.seq,
            "ni": self.no_input,
            "nm": self.no_match,
        }
        if self.data:
            fields["d"] = seal.seal(self.data)
        return urlencode(fields)

    @classmethod
    def remembered_from(cls, args: Mapping[str, str], seal: StateSeal) -> Remembered | None:
        """The values sealed in `d` (none when it is absent); None when `d` is not ours."""
        token = args.get("d", "")
        if not token:
            return ()
        opened = seal.open(token)
        if opened is None:
            return None
        values = {key: value[:MAX_VALUE_CHARS] for key, value in opened if value}
        return tuple(sorted(values.items()))[:MAX_REMEMBERED]


@dataclass(frozen=True)
class Caller:
    """The call a webhook is about: its CallSid and the caller's number."""

    sid: str
    number: str = ""


@dataclass(frozen=True)
class Reply:
    """What the caller did at a <Gather>: keys pressed, words spoken, or nothing."""

    digits: str = ""
    speech: str = ""
    confidence: float | None = None

    @property
    def silent(self) -> bool:
        return not (self.digits or self.speech)

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
class QueueWait:
    """What Twilio tells the wait URL: how long this caller has waited, and their place."""

    waited_s: int = 0
    position: int = 1


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


class _Values(dict[str, str]):
    """Prompt placeholders; one the call has not learned yet reads as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


Hop = tuple[str, CallState]


class FlowEngine:
    def __init__(
        self,
        flow: Flow,
        catalogues: Mapping[str, Catalogue],
        settings: Settings,
        clock: Clock,
        lookup: Callable[[], CallerLookup] = NobodyKnown,
        numbers: TicketNumbering | None = None,
    ) -> None:
        self.flow = flow
        self.catalogues = catalogues
        self.settings = settings
        self.clock = clock
        self.lookup = lookup
        self.numbers = numbers
        self.seal = seal_for(settings.state_key, settings.secret_key)
        self.values = {
            "hotline_name": settings.hotline_name,
            "hotline_number": settings.hotline_number,
            "business_hours": str(settings.business_hours),
        }
        self._silent: dict[str, Callable[[Caller, Node, CallState, Turn], Hop]] = {
            "say": self._say,
            "set": self._set,
            "hours": self._hours,
            "language": self._language,
            "identify": self._identify,
            "lookup_unit": self._lookup_unit,
            "ticket": self._ticket,
            "status": self._status,
        }
        self._replies: dict[str, Callable[[Caller, Node, CallState, Reply, Turn], None]] = {
            "menu": self._menu_reply,
            "collect": self._collect_reply,
            "describe": self._describe_reply,
            "appointment": self._appointment_reply,
            "rating": self._rating_reply,
        }

    # --- entry points, one per webhook -------------------------------------------------

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

    def step(self, call: Caller, state: CallState, reply: Reply) -> Turn:
        """The caller answered (or did not answer) a question."""
        node = self.flow.nodes.get(state.node)
        handler = self._replies.get(node.type) if node else None
        if node is None or handler is None:
            return self.restart(call, state)
        turn = Turn()
        handler(call, node, state, reply, turn)
        return turn

    def restart(self, call: Caller, state: CallState) -> Turn:
        """A request we cannot place (odd or missing parameters): start the menu again."""
        locale = state.locale if state.locale in self.catalogues else self.settings.default_locale
        turn = Turn()
        self._run(call, CallState(self.flow.start, locale, state.seq), turn)
        return turn

    def recorded(self, call: Caller, state: CallState, recording: Recording | None) -> Turn:
        """After a <Record>: a message for a callback, or a description for a ticket."""
        node = self.flow.nodes.get(state.node)
        if node is not None and node.type == "record":
            return self._description_recorded(call, node, state, recording)
        return self._message_left(call, node, state, recording)

    def dialed(self, call: Caller, state: CallState, status: str) -> Turn:
        """The on-call engineer answered, or we try the next rung of the ladder."""
        turn = Turn()
        node = self.flow.nodes.get(state.node)
        if node is None or node.type != "dial":
            return self.restart(call, state)
        rung = _int(state.value("rung"))
        turn.events.append(
            self._event(call, state, EventKind.DIAL_RESULT, rung=rung, status=status)
        )
        if status in ANSWERED:
            self._run(call, state.at(self._target(str(node.next), state)), turn)
        else:
            self._run(call, state.remember({"rung": str(rung + 1)}), turn)
        return turn

    def queue_result(self, call: Caller, state: CallState, result: str, waited_s: int = 0) -> Turn:
        """The caller left a queue: served, hung up, or still needing us."""
        turn = Turn()
        node = self.flow.nodes.get(state.node)
        queue = node.queue if node is not None else None
        turn.events.append(
            self._event(
                call, state, EventKind.QUEUE_RESULT, result=result, queue=queue, waited_s=waited_s
            )
        )
        if result == "bridged":
            turn.verbs += [*self._speak(state, "system.goodbye"), Hangup()]
        elif result in MOVED_ON:
            pass  # taken elsewhere (e.g. by an agent at the desk): Twilio ignores this TwiML
        elif result != "hangup" and node is not None and node.after:
            self._run(call, state.at(node.after), turn)
        return turn

    def queue_wait(self, state: CallState, wait: QueueWait) -> list[Verb]:
        """One round of waiting music (R8); Twilio fetches it again when it ends. Every round
        offers a callback that keeps the caller's place, or a message; past the longest
        wait the caller leaves the queue for a message and a callback."""
        state = replace(state, locale=self._locale(state.locale))
        if wait.waited_s >= self.settings.queue_max_wait_s:
            return [Leave()]
        verbs: list[Verb] = []
        if SORRY_AFTER_WAIT_S <= wait.waited_s < SORRY_AFTER_WAIT_S + WAIT_ROUND_S:
            verbs += self._speak(state, "system.queue_sorry")  # once: in the first round past 30 s
        minutes = max(1, -(-self._expected_wait_s(state, wait) // 60))
        verbs += self._speak(
            state, "queue.position", count=str(max(wait.position - 1, 0)), minutes=str(minutes)
        )
        verbs += [*self._speak(state, "system.queue_hold"), Pause(QUEUE_HOLD_PAUSE_S)]
        choice = Gather(
            action="/voice/queue/choice?" + state.as_query(self.seal),
            prompts=tuple(self._speak(state, "queue.choice")),
            language=self.catalogues[state.locale].voice.gather_language,
            timeout_s=5,
            input="dtmf",
        )
        return [*verbs, choice]

    def _expected_wait_s(self, state: CallState, wait: QueueWait) -> int:
        """From recent history when there is some: how long answered callers of this queue
        waited, less what this caller has waited; otherwise a fixed time per caller ahead."""
        node = self.flow.nodes.get(state.node)
        typical = self.lookup().seconds_to_answer(str(node.queue)) if node is not None else None
        if typical is None:
            return wait.position * self.settings.queue_seconds_per_caller
        return max(typical - wait.waited_s, MIN_ESTIMATE_S)

    def queue_choice(self, call: Caller, state: CallState, wait: QueueWait, digits: str) -> Turn:
        """1: call me back, keeping my place (virtual hold); 2: let me leave a message."""
        turn = Turn()
        state = replace(state, locale=self._locale(state.locale))
        if digits == "1":
            node = self.flow.nodes.get(state.node)
            queue = node.queue if node is not None else ""
            turn.events.append(
                self._event(
                    call,
                    state,
                    EventKind.VIRTUAL_HOLD,
                    queue=queue,
                    waited_s=wait.waited_s,
                    position=wait.position,
                )
            )
            turn.verbs += [*self._speak(state, "queue.callback_promise"), Hangup()]
        elif digits == "2":
            turn.verbs.append(Leave())
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

    # --- the walk ----------------------------------------------------------------------

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

    # silent nodes: they speak at most, then hop on

    def _say(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        turn.verbs += self._prompts(node, state)
        return str(node.next), state

    def _set(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        return str(node.next), state.remember(node.set)

    def _hours(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        is_open = office_is_open(self.settings, self.clock.now())
        return str(node.open if is_open else node.closed), state

    def _language(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        locale = node.switch[state.locale]
        turn.events.append(self._event(call, state, EventKind.LANGUAGE, locale=locale))
        return str(node.next), replace(state, locale=locale)

    def _identify(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        households = self.lookup().households(call.number)
        if not households:
            turn.events.append(self._event(call, state, EventKind.IDENTIFIED, known=False))
            return str(node.unknown), state
        home = households[0]
        turn.events.append(
            self._event(
                call,
                state,
                EventKind.IDENTIFIED,
                known=True,
                unit_id=home.unit_id,
                resident_id=home.resident_id,
                unit=home.label,
                households=len(households),
            )
        )
        return str(node.known), state.remember(_household_values(home))

    def _lookup_unit(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        building, room = state.value("building"), state.value("room")
        found = self.lookup().unit_by_keypad(building, room)
        label = (
            found.label if found else self._text(state, "unit.typed", building=building, room=room)
        )
        turn.events.append(
            self._event(
                call,
                state,
                EventKind.UNIT_TYPED,
                building=building,
                room=room,
                unit=label,
                known=bool(found),
            )
        )
        values = _household_values(found) if found else {"unit": "", "who": "", "ul": label}
        return str(node.next), state.remember(values)

    def _ticket(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        kind = str(node.kind)
        number = self._ticket_number(call, kind)
        state = state.remember({"no": number})
        turn.events.append(
            self._event(
                call,
                state,
                EventKind.TICKET_OPENED,
                **self._ticket_detail(call, kind, number, state),
            )
        )
        turn.verbs += self._prompts(node, state)
        return str(node.next), state

    def _status(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        lookup = self.lookup()
        asked = state.value("ticket")
        tickets = (
            [t for t in [lookup.ticket(asked)] if t]
            if asked
            else list(lookup.open_tickets(call.number))
        )
        turn.events.append(
            self._event(call, state, EventKind.STATUS_TOLD, tickets=[t.number for t in tickets])
        )
        if not tickets:
            turn.verbs += self._speak(state, "status.none")
            return str(node.next), state
        turn.verbs += self._speak(state, "status.count", count=str(len(tickets)))
        for ticket in tickets[:5]:
            turn.verbs += self._speak(
                state,
                "status.item",
                kind_label=self._word(state, f"kind.{ticket.kind}"),
                ticket_number=spoken_digits(ticket.number),
                status_label=self._word(state, f"ticket_status.{ticket.status}"),
            )
        return str(node.next), state

    # interactive nodes: they ask the caller something, or hand the call on

    def _interact(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop | None:
        following = replace(state, seq=state.seq + 1)
        if node.type == "dial":
            return self._dial(call, node, following, turn)
        if node.type in ASKING:
            prompts = (
                self._slot_prompts(node, state)
                if node.type == "appointment"
                else self._prompts(node, state)
            )
            self._ask(node, following, turn, prompts)
            return None
        turn.verbs += self._prompts(node, state)
        if node.type == "queue":
            self._enqueue(call, node, state, following, turn)
        elif node.type in {"message", "record"}:
            self._record(call, node, state, following, turn)
        elif node.type == "hangup":
            turn.events.append(self._event(call, state, EventKind.CLOSED_BY_IVR))
            turn.verbs.append(Hangup())
        return None

    def _enqueue(
        self, call: Caller, node: Node, state: CallState, following: CallState, turn: Turn
    ) -> None:
        turn.events.append(
            self._event(call, state, EventKind.HANDOFF, queue=node.queue, category=node.category)
        )
        turn.verbs.append(
            Enqueue(
                queue=str(node.queue),
                # The wait rounds carry the step after the hand-off, so whatever the caller
                # chooses while waiting is logged after the hand-off itself.
                wait_url="/voice/queue/wait?" + following.as_query(self.seal),
                action="/voice/queue/result?" + following.as_query(self.seal),
            )
        )

    def _record(
        self, call: Caller, node: Node, state: CallState, following: CallState, turn: Turn
    ) -> None:
        if node.type == "message":
            turn.events.append(self._event(call, state, EventKind.MESSAGE_OFFERED))
        action = "/voice/message?" + following.as_query(self.seal)
        # A description in English can be transcribed for the ticket; Twilio has no Mandarin here.
        transcribe = node.type == "record" and state.locale.startswith("en")
        record = Record(
            action=action,
            max_length_s=node.max_length_s,
            transcribe_callback="/voice/transcription" if transcribe else None,
        )
        turn.verbs += [record, Redirect(action + "&empty=1")]

    def _dial(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop | None:
        ladder = self.settings.oncall_ladder
        rung = _int(state.value("rung"))
        if rung >= len(ladder):
            return str(node.exhausted), state
        turn.verbs += self._prompts(node, state)
        action = "/voice/dialed?" + state.remember({"rung": str(rung)}).as_query(self.seal)
        turn.verbs.append(Dial(number=ladder[rung], action=action, timeout_s=DIAL_TIMEOUT_S))
        return None

    def _ask(self, node: Node, state: CallState, turn: Turn, prompts: list[Speech]) -> None:
        voice = self.catalogues[state.locale].voice
        action = "/voice/step?" + state.as_query(self.seal)
        turn.verbs.append(
            Gather(
                action=action,
                prompts=tuple(prompts),
                language=voice.gather_language,
                timeout_s=node.timeout_s,
                hints=speech_hints(node, state.locale),
                num_digits=0 if node.type == "collect" else 1,
                input=GATHER_INPUT[node.type],
            )
        )
        # Twilio falls through to the next verb when nothing was gathered.
        turn.verbs.append(Redirect(action))

    # replies to questions

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
        index = _int(reply.digits) - 1 if reply.digits.isdigit() else -1
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

    # after a recording

    def _description_recorded(
        self, call: Caller, node: Node, state: CallState, recording: Recording | None
    ) -> Turn:
        turn = Turn()
        if recording is not None:
            turn.events.append(
                self._event(
                    call,
                    state,
                    EventKind.RECORDING,
                    recording_url=recording.url,
                    recording_sid=recording.sid,
                    duration_s=recording.duration_s,
                )
            )
            state = state.remember({"rec": recording.sid, "recurl": recording.url})
        else:
            turn.events.append(self._event(call, state, EventKind.MESSAGE_EMPTY))
        self._run(call, state.at(str(node.next)), turn)
        return turn

    def _message_left(
        self, call: Caller, node: Node | None, state: CallState, recording: Recording | None
    ) -> Turn:
        turn = Turn()
        if recording is None:
            turn.events.append(self._event(call, state, EventKind.MESSAGE_EMPTY))
        else:
            importance = (node.callback if node else None) or state.value("importance") or "general"
            turn.events.append(
                self._event(
                    call,
                    state,
                    EventKind.MESSAGE_RECORDED,
                    recording_url=recording.url,
                    recording_sid=recording.sid,
                    duration_s=recording.duration_s,
                    callback=importance,
                )
            )
            turn.verbs += self._speak(state, "system.message_thanks")
        if node is not None and node.type == "message" and node.next:
            self._run(call, state.at(node.next), turn)
        else:
            turn.verbs += [*self._speak(state, "system.goodbye"), Hangup()]
        return turn

    # --- small helpers -----------------------------------------------------------------

    def _preferred_locale(self, number: str) -> str:
        """R: a resident's remembered language choice, else the hotline's default."""
        for home in self.lookup().households(number):
            if home.language in self.catalogues:
                return home.language
        return self.settings.default_locale

    def _locale(self, locale: str) -> str:
        return locale if locale in self.catalogues else self.settings.default_locale

    def _ticket_number(self, call: Caller, kind: str) -> str:
        """The number to read out, or "" when none is at hand (told: it comes by SMS)."""
        local_now = self.clock.now().astimezone(self.settings.timezone)
        if self.numbers is None:
            return ""
        return self.numbers.for_call(call.sid, kind, local_now) or ""

    def _ticket_detail(
        self, call: Caller, kind: str, number: str, state: CallState
    ) -> dict[str, Any]:
        keys = (
            "cat",
            "emg",
            "unit",
            "who",
            "ul",
            "desc",
            "rec",
            "recurl",
            "slot",
            "from",
            "to",
            "major",
        )
        return {"number": number, "kind": kind, "caller": call.number, "locale": state.locale} | {
            key: state.value(key) for key in keys if state.value(key)
        }

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

    def _prompts(self, node: Node, state: CallState) -> list[Speech]:
        return [
            speech
            for key in node.prompts
            for speech in self._speak(state, self._numbered(key, state))
        ]

    def _numbered(self, key: str, state: CallState) -> str:
        """A prompt that reads the ticket number, when no number was at hand: the
        variant that says it comes by SMS (the worker numbers the ticket)."""
        later = f"{key}{LATER}"
        if state.value("no") or later not in self.catalogues[state.locale].prompts:
            return key
        return later

    def _prompt_values(self, state: CallState, extra: Mapping[str, str]) -> _Values:
        values = _Values(self.values)
        values["unit_label"] = state.value("ul")
        values["ticket_number"] = spoken_digits(state.value("no"))
        values["building"], values["room"] = state.value("building"), state.value("room")
        if state.value("slot"):
            values["slot"] = self._word(state, f"slot.{state.value('slot')}")
        values.update(extra)
        return values

    def _word(self, state: CallState, key: str) -> str:
        """A word or phrase from the catalogue, as written (slot names, statuses)."""
        prompt = self.catalogues[state.locale].prompts.get(key)
        return prompt.text if prompt else ""

    def _text(self, state: CallState, key: str, **extra: str) -> str:
        catalogue = self.catalogues[state.locale]
        prompt = catalogue.prompts.get(key)
        return prompt.text.format_map(self._prompt_values(state, extra)) if prompt else ""

    def _speak(self, state: CallState, key: str, **extra: str) -> list[Speech]:
        return self.catalogues[state.locale].speech(key, self._prompt_values(state, extra))

    def _event(
        self, call: Caller, state: CallState, what: EventKind, /, **detail: Any
    ) -> CallEvent:
        return CallEvent(
            call.sid, what, self.clock.now(), seq=state.seq, node=state.node, detail=detail
        )


def _household_values(home: Household) -> dict[str, str]:
    return {
        "unit": str(home.unit_id or ""),
        "who": str(home.resident_id or ""),
        "ul": home.label,
    }


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0
