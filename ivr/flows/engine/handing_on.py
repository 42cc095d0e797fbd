"""Nodes that hand the call on (queue, message, record, dial, connect) and the webhooks
that report back from them: the queue's rounds and result, a recording, the on-call dial,
the person a call we placed was bridged to.
"""

from __future__ import annotations

from dataclasses import replace

from ivr.core.events import EventKind
from ivr.core.ticket_numbers import spoken_digits
from ivr.core.verbs import (
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Record,
    Redirect,
    Verb,
)
from ivr.flows.definition import Node
from ivr.flows.engine.base import EngineBase
from ivr.flows.engine.state import (
    ACCEPT_KEY,
    ANSWERED,
    BRIDGED,
    BRIEFING_TIMEOUT_S,
    DIAL_TIMEOUT_S,
    DONE,
    MIN_ESTIMATE_S,
    MOVED_ON,
    ONCALL_ACCEPT_PATH,
    ONCALL_BRIEF_PATH,
    QUEUE_HOLD_PAUSE_S,
    SORRY_AFTER_WAIT_S,
    WAIT_ROUND_S,
    Caller,
    CallState,
    Hop,
    QueueWait,
    Recording,
    Turn,
    whole_number,
)


class HandingOn(EngineBase):
    def recorded(self, call: Caller, state: CallState, recording: Recording | None) -> Turn:
        """After a <Record>: a message for a callback, or a description for a ticket."""
        node = self.flow.nodes.get(state.node)
        if node is not None and node.type == "record":
            return self._description_recorded(call, node, state, recording)
        return self._message_left(call, node, state, recording)

    def dialed(self, call: Caller, state: CallState, status: str, bridged: bool = True) -> Turn:
        """The on-call engineer took the call, or we try the next rung of the ladder. An
        engineer who answered but did not press 1 at the briefing was never bridged
        (Twilio: completed, DialBridged false): that rung is skipped too."""
        turn = Turn()
        node = self.flow.nodes.get(state.node)
        if node is None or node.type != "dial":
            return self.restart(call, state)
        rung = whole_number(state.value("rung"))
        # The briefing's facts ride along: an engineer who never answered is texted them.
        briefing = self.briefing(call, state)
        result = {"status": status, "bridged": bridged, **briefing}
        turn.events.append(self._event(call, state, EventKind.DIAL_RESULT, **result))
        if status in ANSWERED and bridged:
            self._run(call, state.at(self._target(str(node.next), state)), turn)
        else:
            self._run(call, state.remember({"rung": str(rung + 1)}), turn)
        return turn

    def oncall_brief(self, call: Caller, state: CallState) -> Turn:
        """What the engineer a rung reached hears before the caller is put through: the
        unit, the kind, the caller's number and the order number; 1 takes the call. No
        key: they hang up, so the <Dial> ends unbridged and the next rung is tried."""
        turn = Turn()
        briefing = self.briefing(call, state)
        turn.events.append(self._event(call, state, EventKind.ENGINEER_BRIEFED, **briefing))
        engineer = replace(state, locale=self.settings.default_locale)
        words = self._briefing_words(engineer, briefing)
        speech = [
            *self._speak(engineer, self._numbered("oncall.briefing", engineer), **words),
            *self._speak(engineer, "oncall.accept"),
        ]
        gather = Gather(
            action=self._url(ONCALL_ACCEPT_PATH, state, counted=False),
            prompts=tuple(speech),
            language=self.catalogues[engineer.locale].voice.gather_language,
            timeout_s=BRIEFING_TIMEOUT_S,
            input="dtmf",
        )
        turn.verbs += [gather, *self._speak(engineer, "oncall.not_accepted"), Hangup()]
        return turn

    def oncall_accept(self, call: Caller, state: CallState, digits: str) -> Turn:
        """The briefed engineer's key: 1 puts the caller through, anything else skips them."""
        turn = Turn()
        briefing = self.briefing(call, state)
        accepted = digits == ACCEPT_KEY
        answer = "accepted" if accepted else "declined"
        turn.events.append(
            self._event(call, state, EventKind.ENGINEER_ANSWER, answer=answer, **briefing)
        )
        engineer = replace(state, locale=self.settings.default_locale)
        if accepted:
            turn.verbs += self._speak(engineer, "oncall.accepted")  # then Twilio bridges
        else:
            turn.verbs += [*self._speak(engineer, "oncall.not_accepted"), Hangup()]
        return turn

    def briefing(self, call: Caller, state: CallState) -> dict[str, str | int]:
        """The facts an engineer is told about an emergency order, for the call register
        and the SMS: which rung, their number, the unit, the kind, the caller, the order."""
        rung = whole_number(state.value("rung"))
        ladder = self.settings.oncall_ladder
        return {
            "rung": rung,
            "phone": ladder[rung] if rung < len(ladder) else "",
            "unit": state.value("ul"),
            "emg": state.value("emg"),
            "caller": state.value("cn") or call.number,
            "number": state.value("no"),
            "locale": self.settings.default_locale,
        }

    def _briefing_words(self, state: CallState, briefing: dict[str, str | int]) -> dict[str, str]:
        unit = str(briefing["unit"]) or self._word(state, "oncall.unit_unknown")
        emg = self._word(state, f"emergency.kind.{briefing['emg'] or 'other'}")
        caller = spoken_digits(str(briefing["caller"]).removeprefix("+86"))
        return {"unit_label": unit, "emg_label": emg, "caller_said": caller}

    def rang(self, call: Caller, state: CallState, status: str) -> Turn:
        """The person a connect node rang talked and hung up, or never answered."""
        node = self.flow.nodes.get(state.node)
        if node is None or node.type != "connect":
            return self.restart(call, state)
        turn = Turn()
        turn.events.append(self._event(call, state, EventKind.DIAL_RESULT, status=status))
        target = node.next if status == BRIDGED else node.exhausted
        self._run(call, state.at(self._target(str(target), state)), turn)
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
        ahead = max(wait.position - 1, 0)
        # Never "0 callers ahead of you": the caller at the front hears they are next.
        position = "queue.position" if ahead else "queue.next"
        verbs += self._speak(state, position, count=str(ahead), minutes=str(minutes))
        verbs += [*self._speak(state, "system.queue_hold"), Pause(QUEUE_HOLD_PAUSE_S)]
        choice = Gather(
            action=self._url("/voice/queue/choice", state),
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
                wait_url=self._url("/voice/queue/wait", following),
                action=self._url("/voice/queue/result", following),
            )
        )

    def _record(
        self, call: Caller, node: Node, state: CallState, following: CallState, turn: Turn
    ) -> None:
        if node.type == "message":
            turn.events.append(self._event(call, state, EventKind.MESSAGE_OFFERED))
        action = self._url("/voice/message", following)
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
        rung = whole_number(state.value("rung"))
        if rung >= len(ladder):
            return str(node.exhausted), state
        turn.verbs += self._prompts(node, state)
        state = state.remember({"rung": str(rung), "cn": call.number})
        turn.verbs.append(
            Dial(
                number=ladder[rung],
                action=self._url("/voice/dialed", state),
                timeout_s=DIAL_TIMEOUT_S,
                # The engineer hears the briefing and presses 1 before the bridge.
                whisper_url=self._url(ONCALL_BRIEF_PATH, state, counted=False),
            )
        )
        return None

    def _connect(self, node: Node, state: CallState, turn: Turn) -> None:
        """Ring the person the call is about from the hotline's number; on answering they
        hear the whisper node (why we call) before the bridge."""
        whisper = self.flow.node(str(node.whisper))
        turn.verbs += self._prompts(node, state)
        turn.verbs.append(
            Dial(
                number=state.value("to"),
                action=self._url(str(node.path), state, counted=False),
                timeout_s=node.timeout_s,
                caller_id=self.settings.hotline_number,
                whisper_url=self._url(str(whisper.path), state, counted=False),
            )
        )

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
            state = state.remember({DONE: "message"})
        if node is not None and node.type == "message" and node.next:
            self._run(call, state.at(node.next), turn)
        else:
            turn.verbs += [*self._speak(state, "system.goodbye"), Hangup()]
        return turn
