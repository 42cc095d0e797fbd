"""What a call's events set in motion, beyond the call log: tickets, callbacks, preferences.

Runs in the call-log job, in the same transaction as the events themselves; the SMS
and escalation jobs it asks for are enqueued by the caller after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.callbacks.outcomes import CALLBACK_EVENTS, follow_callback_event
from ivr.calllog.write import held_call
from ivr.config import Settings
from ivr.core.events import CallEvent, EventKind
from ivr.core.hours import next_opening
from ivr.core.prompts import Catalogue
from ivr.models import Call, CallEventRow, CallOutcome, Resident, Ticket
from ivr.outbound.schedule import Owed, owe_callback
from ivr.tickets.lifecycle import FollowUps, open_ticket, service_levels, text_engineer

# Why we owe a callback, by the message node the caller left it at.
CALLBACK_REASONS = {
    "after_hours_message": "message left out of hours",
    "take_message": "message left: no agent free",
    "important_message": "inquiry message (important)",
    "general_message": "inquiry message",
    "emergency_message": "emergency: nobody on duty answered",
    "fallback": "message left while the system was down",
}


EMERGENCY_MESSAGES = frozenset({"emergency_message"})
# A purpose that leaves nothing owed when the caller hangs up: sales are declined (R12).
NOTHING_TO_CALL_BACK_ABOUT = frozenset({"sales"})
ENGINEER_TEXTED_ON = frozenset({EventKind.ENGINEER_BRIEFED, EventKind.DIAL_RESULT})


def follow_up_events(
    session: Session,
    events: Sequence[CallEvent],
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    follow = FollowUps()
    for event in events:
        if event.kind == EventKind.TICKET_OPENED:
            follow.add(open_ticket(session, event, settings, catalogues))
        elif event.kind in {EventKind.MESSAGE_RECORDED, EventKind.FALLBACK} and event.detail.get(
            "recording_url"
        ):
            promise_callback(session, event, settings)
        elif event.kind == EventKind.VIRTUAL_HOLD:
            promise_queue_callback(session, event, settings)
        elif event.kind == EventKind.STATUS:
            call_back_if_abandoned(session, event, settings)
        elif event.kind == EventKind.LANGUAGE:
            remember_language(session, event)
        elif event.kind == EventKind.TRANSCRIPTION:
            attach_transcription(session, event)
        elif event.kind in CALLBACK_EVENTS:
            follow.add(follow_callback_event(session, event, settings, catalogues))
        elif event.kind in ENGINEER_TEXTED_ON and event.detail.get("phone"):
            # Answered or not, a rung rung about an order gets its facts by SMS (once).
            follow.add(
                text_engineer(
                    session,
                    str(event.detail.get("phone") or ""),
                    {**event.detail, "call_sid": event.call_sid},
                    settings,
                    catalogues,
                    event.at,
                )
            )
    return follow


def _caller_number(session: Session, call_sid: str) -> str:
    call = held_call(session, call_sid)
    return call.caller_number if call else ""


def promise_callback(session: Session, event: CallEvent, settings: Settings) -> None:
    """R7: a message means a callback, due within 24 hours or the same day if important;
    an emergency's message (nobody on duty took the call) at once, first in line."""
    important = event.detail.get("callback") == "important"
    levels = service_levels()
    deadline = levels.callback_important if important else levels.callback_general
    emergency = event.node in EMERGENCY_MESSAGES
    due_at = deadline.due(event.at, settings)
    if emergency:
        due_at = event.at + levels.callback_emergency
    _add_callback(
        session,
        key=f"message:{event.call_sid}:{event.seq}:{event.node}",
        event=event,
        reason=CALLBACK_REASONS.get(event.node, f"message left at {event.node}"),
        important=important or emergency,
        due_at=due_at,
        recording_url=str(event.detail["recording_url"])[:512],
        queue="emergency" if emergency else None,
        keeps_place=emergency,
        try_from=event.at if emergency else None,
    )


def promise_queue_callback(session: Session, event: CallEvent, settings: Settings) -> None:
    """Virtual hold: the caller hung up to be called back, keeping their place in line."""
    waited_min = int(event.detail.get("waited_s", 0)) // 60
    queue = event.detail.get("queue") or "general"
    _add_callback(
        session,
        key=f"virtual-hold:{event.call_sid}",
        event=event,
        reason=f"requested from the {queue} queue after {waited_min} min",
        important=True,
        due_at=next_opening(settings, event.at),  # at once, or when the office opens
        queue=str(queue),
        keeps_place=True,  # called back before callers who arrived after them
    )


def call_back_if_abandoned(session: Session, event: CallEvent, settings: Settings) -> None:
    """A caller who hung up with a need unmet (they chose a purpose or waited for a person)
    gets one automatic callback per issue and day: within 15 minutes in office hours (of
    the opening otherwise), an emergency at once and first in line. Never due at birth."""
    call = held_call(session, event.call_sid)
    if (
        call is None
        or call.outcome != CallOutcome.ABANDONED
        or not call.caller_number.startswith("+")
    ):
        return
    emergency = call.queue == "emergency" or _went_the_emergency_way(session, call.call_sid)
    purpose = "emergency" if emergency else _purpose(call)
    if purpose is None or purpose in NOTHING_TO_CALL_BACK_ABOUT:
        return  # hung up at the greeting or the main menu, or selling: nothing unmet
    levels = service_levels()
    day = event.at.astimezone(settings.timezone).date().isoformat()
    if emergency:
        due_at, try_from = event.at + levels.callback_emergency, event.at
    else:
        due_at, try_from = next_opening(settings, event.at) + levels.callback_abandoned, None
    _add_callback(
        session,
        key=f"abandoned:{call.caller_number}:{purpose}:{day}",
        event=event,
        reason=f"abandoned {'in the queue' if call.queue else 'in the IVR'} at {purpose}",
        important=emergency,
        due_at=due_at,
        queue=purpose,
        keeps_place=emergency,
        try_from=try_from,
    )


def _went_the_emergency_way(session: Session, call_sid: str) -> bool:
    """The caller reached the emergency path (its menu, advice or queue) before hanging up."""
    reached = select(CallEventRow.id).where(
        CallEventRow.call_sid == call_sid, CallEventRow.node.like("emergency%")
    )
    return session.scalar(reached.limit(1)) is not None


def _add_callback(
    session: Session,
    *,
    key: str,
    event: CallEvent,
    reason: str,
    important: bool,
    due_at: datetime,
    recording_url: str | None = None,
    queue: str | None = None,
    keeps_place: bool = False,
    try_from: datetime | None = None,
) -> None:
    """Its queue (what it is about) and language come from the call when not given."""
    call = held_call(session, event.call_sid)
    owed = Owed(
        key=key,
        call_sid=event.call_sid,
        phone=call.caller_number if call else "",
        queue=queue or _purpose(call),
        keeps_place=keeps_place,
        locale=call.locale if call else None,
        reason=reason,
        important=important,
        due_at=due_at,
        recording_url=recording_url,
        created_at=event.at,
        next_attempt_at=try_from,
    )
    owe_callback(session, owed)


def _purpose(call: Call | None) -> str | None:
    """What a call was about: the queue it reached, else the category it chose."""
    if call is None:
        return None
    return call.queue or (call.category.value if call.category else None)


def remember_language(session: Session, event: CallEvent) -> None:
    """A resident who switches language is greeted in it next time."""
    number = _caller_number(session, event.call_sid)
    locale = str(event.detail.get("locale", ""))
    if number and locale:
        session.execute(update(Resident).where(Resident.phone == number).values(language=locale))


def attach_transcription(session: Session, event: CallEvent) -> None:
    recording_sid = str(event.detail.get("recording_sid", ""))
    text = str(event.detail.get("text", ""))
    if recording_sid and text:
        session.execute(
            update(Ticket).where(Ticket.recording_sid == recording_sid).values(transcription=text)
        )
