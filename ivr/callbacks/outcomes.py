"""What a callback or survey call reported, applied by the call-log worker: an attempt
moves on from each webhook's event, once, in whatever order the events arrive."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.callbacks.dispatch import locked_attempt, settle
from ivr.config import Settings
from ivr.core.events import CallEvent, EventKind
from ivr.core.labels import RATING_WORDS
from ivr.core.prompts import Catalogue
from ivr.models import (
    AttemptStatus,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    Ticket,
    User,
)
from ivr.tickets.lifecycle import FollowUps, alert_oncall, alert_rung, note_return_visit

log = logging.getLogger(__name__)

RATINGS = {str(rating): word for rating, word in RATING_WORDS.items()}
FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}

CALLBACK_EVENTS = frozenset(
    {
        EventKind.CALLBACK_LEG,
        EventKind.CALLBACK_AGENT,
        EventKind.CALLBACK_DIALED,
        EventKind.CALLBACK_STATUS,
        EventKind.SURVEY_RATED,
        EventKind.ENGINEER_ANSWER,
    }
)


@dataclass(frozen=True)
class Reported:
    """One webhook's event, with what the worker needs to act on it."""

    event: CallEvent
    attempt: CallbackAttempt
    settings: Settings
    catalogues: Mapping[str, Catalogue]

    @property
    def at(self) -> datetime:
        return self.event.at

    @property
    def value(self) -> str:
        return str(self.event.detail.get("status") or self.event.detail.get("answer") or "")

    def settle(self, status: AttemptStatus, outcome: str, session: Session) -> bool:
        return settle(session, self.attempt.id, status, outcome, self.at, self.settings)


def follow_callback_event(
    session: Session,
    event: CallEvent,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """Move an attempt on from what its call reported. Order-tolerant and idempotent: each
    step checks the attempt's state, and an ended attempt is never ended again."""
    attempt = _reported_attempt(session, event)
    if attempt is None:
        return FollowUps()
    if attempt.call_sid is None:  # the worker died before it could store the CallSid
        attempt.call_sid = event.call_sid[:64]
    reported = Reported(event, attempt, settings, catalogues)
    return _STEPS[event.kind](session, reported) or FollowUps()


def _reported_attempt(session: Session, event: CallEvent) -> CallbackAttempt | None:
    detail = event.detail
    attempt_id, callback_id = detail.get("at"), detail.get("cb")
    if not isinstance(attempt_id, int) or not isinstance(callback_id, int):
        return None
    attempt = locked_attempt(session, attempt_id)
    if attempt is None or attempt.callback_id != callback_id:
        log.warning("call %s reports on unknown callback attempt %s", event.call_sid, attempt_id)
        return None
    return attempt


def _leg_answered(session: Session, reported: Reported) -> None:
    """The agent picked up (nothing to do yet), or the resident did: connected."""
    attempt, detail = reported.attempt, reported.event.detail
    if detail.get("leg") == "agent" or attempt.ended_at is not None:
        return
    attempt.status = AttemptStatus.CONNECTED
    if detail.get("resident_sid"):
        attempt.resident_call_sid = str(detail["resident_sid"])[:64]


def _agent_answer(session: Session, reported: Reported) -> None:
    attempt = reported.attempt
    if reported.value == "accepted":
        if attempt.status == AttemptStatus.DIALING_AGENT and attempt.ended_at is None:
            attempt.status = AttemptStatus.DIALING_RESIDENT
        return
    outcome = f"{_agent_name(session, attempt)} did not accept the callback"
    reported.settle(AttemptStatus.AGENT_NO_ANSWER, outcome, session)


def _resident_dialed(session: Session, reported: Reported) -> None:
    status = reported.value
    if status == "completed":
        outcome = f"{_agent_name(session, reported.attempt)} talked with the resident"
        reported.settle(AttemptStatus.CONNECTED, outcome, session)
    else:
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, f"resident: {status}", session)


def _call_ended(session: Session, reported: Reported) -> FollowUps | None:
    """Twilio's final status for the leg we placed: the agent's, the survey's, or an
    alerted engineer's (who did not press 1 before it ended: the next rung)."""
    status, attempt = reported.value, reported.attempt
    if status not in FINAL_CALL_STATUSES or attempt.ended_at is not None:
        return None
    if attempt.callback.kind == CallbackKind.ALERT:
        return _engineer_not_taken(session, reported, f"engineer: {status}, not taken")
    if attempt.callback.kind == CallbackKind.SURVEY:
        _survey_call_ended(session, reported, status)
    elif attempt.status == AttemptStatus.DIALING_AGENT:
        name = _agent_name(session, attempt)
        did = (
            "did not accept the callback" if status == "completed" else f"did not answer ({status})"
        )
        reported.settle(AttemptStatus.AGENT_NO_ANSWER, f"{name} {did}", session)
    # The <Dial> result comes first and settles these; in case it was lost on the way:
    elif attempt.status == AttemptStatus.CONNECTED:
        reported.settle(AttemptStatus.CONNECTED, "talked with the resident", session)
    else:  # the whisper never played: the resident did not pick up before the call ended
        outcome = "resident: not reached before the agent's call ended"
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, outcome, session)
    return None


def _engineer_answer(session: Session, reported: Reported) -> FollowUps | None:
    """The alerted engineer pressed 1 (the order is theirs), or did not: the next rung."""
    if reported.value == "accepted":
        outcome = f"engineer {reported.attempt.callback.phone} took the order"
        reported.settle(AttemptStatus.CONNECTED, outcome, session)
        return None
    return _engineer_not_taken(session, reported, "engineer: did not press 1")


def _engineer_not_taken(session: Session, reported: Reported, outcome: str) -> FollowUps | None:
    if not reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, outcome, session):
        return None  # settled before (by the answer or the call's end): the next rung is rung
    callback = reported.attempt.callback
    rung = alert_rung(callback)
    ticket = session.get(Ticket, callback.ticket_id) if callback.ticket_id else None
    if rung is None or ticket is None:
        return None
    return alert_oncall(
        session, ticket, rung + 1, reported.settings, reported.catalogues, reported.at
    )


def _survey_call_ended(session: Session, reported: Reported, status: str) -> None:
    if status == "completed":
        outcome = "return visit: answered, no rating given"
        reported.settle(AttemptStatus.CONNECTED, outcome, session)
    else:
        reported.settle(AttemptStatus.RESIDENT_NO_ANSWER, f"resident: {status}", session)


def _survey_rated(session: Session, reported: Reported) -> FollowUps:
    """The return visit's answer goes on the ticket's log; dissatisfied reopens and escalates."""
    rating = str(reported.event.detail.get("rating") or "")
    label = RATINGS.get(rating)
    callback = reported.attempt.callback
    outcome = f"return visit: {label} ({rating})" if label else "return visit: no rating given"
    reported.settle(AttemptStatus.CONNECTED, outcome, session)
    if callback.status == CallbackStatus.DONE:
        callback.outcome = outcome  # the call's end may have been applied first
    ticket = (
        session.get(Ticket, callback.ticket_id, with_for_update=True)
        if callback.ticket_id
        else None
    )
    if ticket is None or label is None:
        return FollowUps()
    return note_return_visit(
        session,
        ticket,
        callback.id,
        int(rating),
        reported.at,
        reported.settings,
        reported.catalogues,
    )


def _agent_name(session: Session, attempt: CallbackAttempt) -> str:
    name = session.scalar(select(User.username).where(User.id == attempt.agent_id))
    return f"agent {name}" if name else "the agent"


_STEPS: dict[EventKind, Callable[[Session, Reported], FollowUps | None]] = {
    EventKind.CALLBACK_LEG: _leg_answered,
    EventKind.CALLBACK_AGENT: _agent_answer,
    EventKind.CALLBACK_DIALED: _resident_dialed,
    EventKind.CALLBACK_STATUS: _call_ended,
    EventKind.SURVEY_RATED: _survey_rated,
    EventKind.ENGINEER_ANSWER: _engineer_answer,
}
