"""Silent nodes: they speak at most, learn something, and hop on (say, set, branch, hours,
language, identify, lookup_unit, ticket, status).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ivr.core.events import EventKind
from ivr.core.hours import office_is_open
from ivr.core.ticket_numbers import spoken_digits
from ivr.flows.definition import Node
from ivr.flows.engine.base import EngineBase
from ivr.flows.engine.state import Caller, CallState, Hop, Turn, household_values


class SilentNodes(EngineBase):
    def _say(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        turn.verbs += self._prompts(node, state)
        return str(node.next), state

    def _set(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        return str(node.next), state.remember(node.set)

    def _branch(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        return node.cases.get(state.value(str(node.value)), str(node.next)), state

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
        return str(node.known), state.remember(household_values(home))

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
        values = household_values(found) if found else {"unit": "", "who": "", "ul": label}
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
