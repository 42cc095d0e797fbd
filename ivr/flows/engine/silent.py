"""Silent nodes: they speak at most, learn something, and hop on (say, set, branch, hours,
language, identify, lookup_unit, ticket, status).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ivr.core.events import EventKind
from ivr.core.hours import office_is_open
from ivr.core.prompts import visit_window
from ivr.core.ticket_numbers import spoken_digits
from ivr.core.units import unit_label
from ivr.core.verbs import Speech
from ivr.flows.definition import Node
from ivr.flows.engine.base import EngineBase
from ivr.flows.engine.state import (
    DONE,
    NOT_MINE,
    RETYPED,
    Caller,
    CallState,
    Hop,
    Turn,
    household_values,
)
from ivr.flows.lookup import OpenTicket


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
        if not is_open and self.settings.closed and node.shut:
            return node.shut, state  # closed by hand today: its own words, not 「非工作时间」
        return str(node.open if is_open else node.closed), state

    def _oncall(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        """Someone on call, or nobody: the caller is told which, honestly."""
        return str(node.open if self.settings.oncall_ladder else node.closed), state

    def _language(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        locale = node.switch[state.locale]
        turn.events.append(self._event(call, state, EventKind.LANGUAGE, locale=locale))
        return str(node.next), replace(state, locale=locale)

    def _identify(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        # A caller who said the caller ID's unit is not theirs is never filed under it.
        households = () if state.value(NOT_MINE) else self.lookup().households(call.number)
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
        """The unit typed or said, checked against the registry. One the registry does not
        have (or that several entrances share) is told so and asked for once more; asked
        twice, it is taken as typed for a person to check."""
        building, entrance, room = (state.value(k) for k in ("building", "entrance", "room"))
        matches = self.lookup().units_keyed_in(building, entrance, room)
        found = matches[0] if len(matches) == 1 else None
        label = found.label if found else unit_label(building, entrance, room)
        turn.events.append(
            self._event(
                call,
                state,
                EventKind.UNIT_TYPED,
                building=building,
                entrance=entrance,
                room=room,
                unit=label,
                known=bool(found),
            )
        )
        if found is None and node.missing and not state.value(RETYPED):
            sorry = "unit.which_entrance" if matches else "unit.not_found"
            turn.verbs += self._speak(state, sorry, unit_label=self._unit_words(state, label))
            forget = {"building": "", "entrance": "", "room": "", RETYPED: "1"}
            return node.missing, state.remember(forget)
        values = household_values(found) if found else {"unit": "", "who": "", "ul": label}
        return str(node.next), state.remember({**values, RETYPED: ""})

    def _ticket(self, call: Caller, node: Node, state: CallState, turn: Turn) -> Hop:
        kind = str(node.kind)
        number = self._ticket_number(call, kind)
        done = "emergency" if state.value("emg") else kind
        state = state.remember({"no": number, DONE: done})
        detail = self._ticket_detail(call, kind, number, state)
        if node.alert:
            detail["alert"] = node.alert
        turn.events.append(self._event(call, state, EventKind.TICKET_OPENED, **detail))
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
        unknown = bool(asked) and not tickets and not lookup.ticket_exists(asked)
        told = {"tickets": [t.number for t in tickets]} | ({"unknown": asked} if unknown else {})
        turn.events.append(self._event(call, state, EventKind.STATUS_TOLD, **told))
        state = state.remember({DONE: "status"})
        if unknown:
            # A number we never issued is no "no open orders": the caller may have misheard it.
            turn.verbs += self._speak(state, "status.unknown", ticket_number=spoken_digits(asked))
            return str(node.missing or node.next), state
        if not tickets:
            turn.verbs += self._speak(state, "status.finished" if asked else "status.none")
            return str(node.next), state
        turn.verbs += self._speak(state, "status.count", count=str(len(tickets)))
        for ticket in tickets[:5]:
            turn.verbs += self._status_item(state, ticket)
        return str(node.next), state

    def _status_item(self, state: CallState, ticket: OpenTicket) -> list[Speech]:
        """One order read back: its kind (an emergency said so), number, status, and the
        visit window when one is agreed (12月3日上午9:00–12:00)."""
        kind = f"kind.emergency_{ticket.kind}" if ticket.emergency else f"kind.{ticket.kind}"
        window = self._visit_window(state, ticket)
        return self._speak(
            state,
            "status.item_visit" if window else "status.item",
            kind_label=self._word(state, kind) or self._word(state, f"kind.{ticket.kind}"),
            ticket_number=spoken_digits(ticket.number),
            status_label=self._word(state, f"ticket_status.{ticket.status}"),
            when=window,
        )

    def _visit_window(self, state: CallState, ticket: OpenTicket) -> str:
        if ticket.appointment_start is None or ticket.appointment_end is None:
            return ""
        catalogue = self.catalogues[state.locale]
        zone = self.settings.timezone
        return visit_window(catalogue, ticket.appointment_start, ticket.appointment_end, zone)

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
