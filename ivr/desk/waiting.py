"""Who waits for a person, with what an agent wants to know before answering: who and
where they are, why they called, what they said or pressed, their open tickets and how
often they called lately. Most urgent purpose first, then longest waiting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ivr.calllog.waiting import QUEUE_PRIORITY, UNNAMED_QUEUE, Waiting, queue_order, waiting_callers
from ivr.core.events import EventKind
from ivr.models import Call, CallEventRow, Resident, Ticket, TicketStatus

RECENT_CALLS = timedelta(days=30)
PAST_CALLS_SHOWN = 5
OPEN_STATUSES = tuple(status for status in TicketStatus if status.is_open)
SAID_KINDS = (EventKind.CHOICE.value, EventKind.SPEECH.value, EventKind.DESCRIBED.value)
CONTEXT_KINDS = (*SAID_KINDS, EventKind.HANDOFF.value)


@dataclass(frozen=True)
class Handoff:
    """Where the caller joined the queue: the flow's queue node and the step number."""

    node: str
    seq: int


@dataclass(frozen=True)
class Said:
    """One thing the caller did at a prompt: pressed keys, typed digits or said words."""

    node: str
    action: str  # pressed | entered | said
    value: str


@dataclass(frozen=True)
class TicketBrief:
    id: int
    number: str
    kind: str
    status: str


@dataclass(frozen=True)
class PastCall:
    call_sid: str
    started_at: datetime
    category: str | None
    outcome: str | None


@dataclass(frozen=True)
class Person:
    name: str | None = None
    unit: str | None = None
    resident_id: int | None = None
    unit_id: int | None = None


@dataclass(frozen=True)
class WaitingCaller:
    call_sid: str
    caller_number: str
    person: Person
    locale: str
    queue: str
    purpose: str
    category: str | None
    joined_at: datetime
    handoff: Handoff
    said: tuple[Said, ...] = ()
    open_tickets: tuple[TicketBrief, ...] = ()
    calls_30_days: int = 0
    past_calls: tuple[PastCall, ...] = ()
    taken_by: str | None = None

    def waited_s(self, now: datetime) -> int:
        return max(0, int((now - self.joined_at).total_seconds()))

    @property
    def lock_key(self) -> str:
        """One lock per wait: a caller back in the queue after a missed agent is free again."""
        return f"desk:take:{self.call_sid}:{self.handoff.seq}"

    @property
    def priority(self) -> tuple[int, str, datetime]:
        rank, name = queue_order(self.purpose)
        return rank, name, self.joined_at


def purpose_of(queue: str, category: str | None) -> str:
    """A named queue says why the caller waits; in the general queue, the call's category."""
    if queue != UNNAMED_QUEUE:
        return queue
    return category if category in QUEUE_PRIORITY else UNNAMED_QUEUE


def waiting_list(session: Session, now: datetime) -> list[WaitingCaller]:
    """Everyone waiting, with context, in the order agents should take them."""
    waiting = waiting_callers(session)
    if not waiting:
        return []
    calls = [w.call for w in waiting]
    events = _context_events(session, [call.call_sid for call in calls])
    people = people_for(session, calls)
    tickets = open_tickets_for(session, calls, people)
    history = _recent_calls(session, calls, now)
    callers = [
        _with_context(w, events, people, tickets, history.get(w.call.caller_number, []))
        for w in waiting
    ]
    return sorted(callers, key=lambda caller: caller.priority)


def mark_taken(redis: Redis, callers: Sequence[WaitingCaller]) -> list[WaitingCaller]:
    """Who already took each caller (the desk's lock), so nobody else tries."""
    if not callers:
        return []
    holders = redis.mget([caller.lock_key for caller in callers])
    return [
        replace(caller, taken_by=lock_holder_name(raw)) if raw else caller
        for caller, raw in zip(callers, holders, strict=True)
    ]


def lock_holder_name(raw: bytes | str) -> str:
    """The lock's value is `agent_id:display name`."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return text.split(":", 1)[-1]


def _with_context(
    waiting: Waiting,
    events: dict[str, list[CallEventRow]],
    people: dict[str, Person],
    tickets: dict[str, list[TicketBrief]],
    history: list[PastCall],
) -> WaitingCaller:
    call = waiting.call
    rows = events.get(call.call_sid, [])
    category = call.category.value if call.category else None
    earlier = [past for past in history if past.call_sid != call.call_sid]
    return WaitingCaller(
        call_sid=call.call_sid,
        caller_number=call.caller_number,
        person=people.get(call.call_sid, Person()),
        locale=call.locale,
        queue=waiting.queue,
        purpose=purpose_of(waiting.queue, category),
        category=category,
        joined_at=waiting.joined_at,
        handoff=_latest_handoff(rows),
        said=tuple(_said(row) for row in rows if row.kind in SAID_KINDS),
        open_tickets=tuple(tickets.get(call.call_sid, [])),
        calls_30_days=len(earlier),
        past_calls=tuple(earlier[:PAST_CALLS_SHOWN]),
    )


def _context_events(session: Session, sids: list[str]) -> dict[str, list[CallEventRow]]:
    rows = session.scalars(
        select(CallEventRow)
        .where(CallEventRow.call_sid.in_(sids), CallEventRow.kind.in_(CONTEXT_KINDS))
        .order_by(CallEventRow.at, CallEventRow.seq, CallEventRow.id)
    )
    by_call: dict[str, list[CallEventRow]] = defaultdict(list)
    for row in rows:
        by_call[row.call_sid].append(row)
    return by_call


def _latest_handoff(rows: Iterable[CallEventRow]) -> Handoff:
    handoffs = [row for row in rows if row.kind == EventKind.HANDOFF]
    return Handoff(handoffs[-1].node, handoffs[-1].seq) if handoffs else Handoff("", 0)


def _said(row: CallEventRow) -> Said:
    detail = row.detail or {}
    if row.kind == EventKind.CHOICE:
        action = "entered" if detail.get("field") else "pressed"
        return Said(row.node, action, str(detail.get("digits", "")))
    return Said(row.node, "said", str(detail.get("text", "")))


# --- who they are ---------------------------------------------------------------------------


def people_for(session: Session, calls: Sequence[Call]) -> dict[str, Person]:
    """From the resident the IVR identified, else the registry's households for the number."""
    known = households_for(
        session,
        {call.resident_id for call in calls if call.resident_id is not None},
        {call.caller_number for call in calls},
    )
    return {
        call.call_sid: known.person(
            call.resident_id, call.caller_number, call.caller_name, call.unit
        )
        for call in calls
    }


@dataclass(frozen=True)
class Households:
    """Registered residents, by id and by phone number: who is on the line, or to call back."""

    by_id: dict[int, Resident]
    by_phone: dict[str, list[Resident]]

    def person(
        self, resident_id: int | None, number: str, name: str | None, unit: str | None
    ) -> Person:
        """The identified resident, else every household with the number; otherwise what
        the call itself said (Twilio's caller name, the unit the caller entered)."""
        resident = self.by_id.get(resident_id) if resident_id is not None else None
        households = [resident] if resident else self.by_phone.get(number, [])
        if not households:
            return Person(name, unit)
        names = "、".join(dict.fromkeys(r.name for r in households))
        units = "、".join(dict.fromkeys(r.unit.label for r in households))
        only = households[0] if len(households) == 1 else None
        return Person(
            names,
            unit or units,
            only.id if only else None,
            only.unit_id if only else None,
        )


def households_for(
    session: Session, resident_ids: Iterable[int], numbers: Iterable[str]
) -> Households:
    """The residents with these ids or phone numbers, in one query."""
    ids = set(resident_ids)
    phones = {number for number in numbers if _callable(number)}
    residents = list(
        session.scalars(
            select(Resident)
            .where(or_(Resident.id.in_(ids), Resident.phone.in_(phones)))
            .options(selectinload(Resident.unit))
            .order_by(Resident.id)
        )
    )
    by_phone: dict[str, list[Resident]] = defaultdict(list)
    for resident in residents:
        by_phone[resident.phone].append(resident)
    return Households({resident.id: resident for resident in residents}, dict(by_phone))


def _callable(number: str) -> bool:
    """A number we can match on: a withheld or anonymous caller matches nobody."""
    return number.startswith("+")


# --- their history --------------------------------------------------------------------------


def open_tickets_for(
    session: Session, calls: Sequence[Call], people: dict[str, Person]
) -> dict[str, list[TicketBrief]]:
    numbers = {call.caller_number for call in calls if _callable(call.caller_number)}
    residents = {p.resident_id for p in people.values() if p.resident_id is not None}
    found = list(
        session.scalars(
            select(Ticket)
            .where(
                Ticket.status.in_(OPEN_STATUSES),
                or_(Ticket.caller_number.in_(numbers), Ticket.resident_id.in_(residents)),
            )
            .order_by(Ticket.created_at, Ticket.id)
        )
    )
    return {
        call.call_sid: [
            TicketBrief(t.id, t.number, t.kind.value, t.status.value)
            for t in found
            if _belongs_to(t, call, people.get(call.call_sid, Person()))
        ]
        for call in calls
    }


def _belongs_to(ticket: Ticket, call: Call, person: Person) -> bool:
    by_number = _callable(call.caller_number) and ticket.caller_number == call.caller_number
    by_resident = person.resident_id is not None and ticket.resident_id == person.resident_id
    return by_number or by_resident


def _recent_calls(
    session: Session, calls: Sequence[Call], now: datetime
) -> dict[str, list[PastCall]]:
    """Calls from the same numbers in the last 30 days, newest first."""
    numbers = {call.caller_number for call in calls if _callable(call.caller_number)}
    rows = session.scalars(
        select(Call)
        .where(Call.caller_number.in_(numbers), Call.started_at >= now - RECENT_CALLS)
        .order_by(Call.started_at.desc(), Call.id.desc())
    )
    by_number: dict[str, list[PastCall]] = defaultdict(list)
    for row in rows:
        by_number[row.caller_number].append(
            PastCall(
                row.call_sid,
                row.started_at,
                row.category.value if row.category else None,
                row.outcome.value if row.outcome else None,
            )
        )
    return by_number
