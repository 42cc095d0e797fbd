"""Writing call-log events to SQL and keeping each call's register entry up to date.

Runs in workers only. Writing is idempotent: events are inserted once per dedupe
key, and a call's summary is recomputed from all of its events, so replays and
out-of-order deliveries converge on the same row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ivr.core.events import CallEvent, EventKind
from ivr.models import Call, CallCategory, CallEventRow, CallOutcome, CallStatus
from ivr.store.db import insert_ignoring_duplicates

log = logging.getLogger(__name__)

FAILED_STATUSES = {CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
DESK_KINDS = frozenset({EventKind.DESK_BRIDGE.value, EventKind.DESK_DIALED.value})
AGENT_ANSWERED = frozenset({"completed", "answered"})
CALL_STATUSES = frozenset(status.value for status in CallStatus)
PLACED_KINDS = frozenset(
    kind.value
    for kind in (
        EventKind.CALLBACK_LEG,
        EventKind.CALLBACK_AGENT,
        EventKind.CALLBACK_DIALED,
        EventKind.CALLBACK_STATUS,
        EventKind.SURVEY_RATED,
        EventKind.ENGINEER_ANSWER,
    )
)
ENGINEER_KINDS = frozenset({EventKind.ENGINEER_BRIEFED.value, EventKind.ENGINEER_ANSWER.value})


def _placeholder(sid: str, events: Iterable[CallEvent]) -> dict[str, Any]:
    return {
        "call_sid": sid,
        "started_at": min(e.at for e in events),
        "status": CallStatus.IN_PROGRESS.value,
        "content": "",
        "caller_number": "",
        "called_number": "",
        "locale": "zh-CN",
    }


def _event_row(event: CallEvent) -> dict[str, Any]:
    return {
        "dedupe_key": event.dedupe_key[:200],
        "call_sid": event.call_sid,
        "kind": str(event.kind),
        "seq": event.seq,
        "node": event.node[:64],
        "at": event.at,
        "detail": event.detail,
    }


def record_events(session: Session, events: Sequence[CallEvent]) -> int:
    """Store new events and refresh the calls they belong to; returns how many were new."""
    by_call: dict[str, list[CallEvent]] = {}
    for event in events:
        by_call.setdefault(event.call_sid, []).append(event)
    hold_calls(session, list(by_call))
    placeholders = [_placeholder(sid, evs) for sid, evs in sorted(by_call.items())]
    insert_ignoring_duplicates(session, Call.__table__, placeholders, "call_sid")  # type: ignore[arg-type]
    rows = [_event_row(e) for e in events]
    added = insert_ignoring_duplicates(session, CallEventRow.__table__, rows, "dedupe_key")  # type: ignore[arg-type]
    refresh_calls(session, list(by_call))
    return added


# Keys for PostgreSQL's transaction-scoped advisory locks, one per call, taken in the
# order of their keys: two workers storing webhooks of the same calls queue behind each
# other instead of deadlocking over the calls' rows (each deadlock cost a retry, and a
# call's log arrived seconds late).
_HOLD_CALLS = text(
    "SELECT pg_advisory_xact_lock(held.key) FROM ("
    " SELECT DISTINCT hashtextextended(sid, 0) AS key"
    " FROM unnest(CAST(:sids AS text[])) AS sid ORDER BY key) AS held"
)


def hold_calls(session: Session, call_sids: Sequence[str]) -> None:
    """Serialise, for this transaction, the storing of these calls' events (PostgreSQL;
    SQLite has one writer at a time anyway)."""
    if call_sids and session.get_bind().dialect.name == "postgresql":
        session.execute(_HOLD_CALLS, {"sids": sorted(set(call_sids))})


CALLS_HELD = "calls held"  # session.info: the Call rows this transaction locked, by CallSid


def held_call(session: Session, call_sid: str) -> Call | None:
    """The call's register entry: the one this transaction already holds (no query), or
    read from the database."""
    held: dict[str, Call] = session.info.get(CALLS_HELD, {})
    found = held.get(call_sid)
    if found is not None:
        return found
    return session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()


def refresh_calls(session: Session, call_sids: Sequence[str]) -> None:
    """refresh_call for many calls at once: two queries, not two per call (a worker
    stores many webhooks in one transaction). The calls are kept in the session for the
    follow-ups that read them next (`held_call`)."""
    calls = session.scalars(
        select(Call)
        .where(Call.call_sid.in_(call_sids))
        .order_by(Call.call_sid)  # one lock order for every worker: no deadlocks
        .with_for_update()
    ).all()
    stored: dict[str, list[CallEventRow]] = {sid: [] for sid in call_sids}
    for row in session.scalars(
        select(CallEventRow)
        .where(CallEventRow.call_sid.in_(call_sids))
        .order_by(CallEventRow.at, CallEventRow.seq, CallEventRow.id)
    ):
        stored[row.call_sid].append(row)
    held = session.info.setdefault(CALLS_HELD, {})
    for call in calls:
        summarise(call, stored[call.call_sid])
        held[call.call_sid] = call


def refresh_call(session: Session, call_sid: str) -> None:
    call = session.scalars(select(Call).where(Call.call_sid == call_sid).with_for_update()).one()
    stored = session.scalars(
        select(CallEventRow)
        .where(CallEventRow.call_sid == call_sid)
        .order_by(CallEventRow.at, CallEventRow.seq, CallEventRow.id)
    ).all()
    summarise(call, stored)


def summarise(call: Call, events: Sequence[CallEventRow]) -> None:
    """Fill the register entry (客户来电来访登记表) from what happened on the call."""
    content: list[str] = []
    for event in events:
        _apply(call, event, content)
    call.content = "\n".join(content)
    if call.status.is_final and call.outcome is None:
        call.outcome = (
            CallOutcome.FAILED if call.status in FAILED_STATUSES else CallOutcome.ABANDONED
        )
    if call.outcome in {CallOutcome.SELF_SERVED, CallOutcome.MESSAGE} and not call.handler:
        call.handler = "ivr"


def _apply(call: Call, event: CallEventRow, content: list[str]) -> None:
    detail = event.detail or {}
    kind = event.kind
    if kind == EventKind.CALL_STARTED:
        _started(call, event.at, detail)
    elif kind == EventKind.GREETED and detail.get("response_ms") is not None:
        call.greeting_ms = float(detail["response_ms"])
    elif kind == EventKind.LANGUAGE:
        call.locale = str(detail.get("locale", call.locale))
        content.append(f"{event.node}: language {call.locale}")
    elif kind == EventKind.CHOICE and detail.get("field"):
        content.append(f"{event.node}: entered {detail.get('digits')}")
    elif kind == EventKind.CHOICE:
        content.append(
            f"{event.node}: pressed {detail.get('digits')} -> {detail.get('goto') or 'invalid'}"
        )
    elif kind == EventKind.SPEECH:
        content.append(
            f"{event.node}: said “{detail.get('text')}” -> {detail.get('goto') or 'no match'}"
        )
    elif kind in {EventKind.NO_INPUT, EventKind.RETRIES_EXHAUSTED}:
        content.append(f"{event.node}: {kind.replace('_', ' ')}")
    elif kind == EventKind.ROUTED:
        call.category = _category(detail.get("category"))
    elif kind in {EventKind.IDENTIFIED, EventKind.UNIT_TYPED}:
        _unit(call, detail)
    elif kind == EventKind.DESCRIBED:
        content.append(f"{event.node}: said “{detail.get('text')}”")
    elif kind == EventKind.RATED:
        call.satisfaction = (
            int(detail["rating"]) if str(detail.get("rating")) in {"1", "2", "3"} else None
        )
        if detail.get("dissatisfied"):
            # The console shows the follow-up on the call: a supervisor rings them back.
            call.follow_up = DISSATISFIED_FOLLOW_UP
            content.append(f"{event.node}: rated 不满意, flagged for the supervisor")
    else:
        _apply_progress(call, event, detail, content)


def _apply_progress(
    call: Call, event: CallEventRow, detail: dict[str, Any], content: list[str]
) -> None:
    kind = event.kind
    if kind == EventKind.HANDOFF:
        call.outcome, call.queue = CallOutcome.TRANSFERRED, detail.get("queue")
        call.category = _category(detail.get("category")) or call.category
        content.append(f"{event.node}: to the {call.queue} queue")
    elif kind == EventKind.VIRTUAL_HOLD:
        call.outcome = CallOutcome.CALLBACK
        content.append(
            f"{event.node}: asked for a callback after {detail.get('waited_s', 0)} s in the queue"
        )
    elif kind == EventKind.QUEUE_RESULT:
        _queue_result(call, str(detail.get("result", "")))
        content.append(f"{event.node}: left queue ({detail.get('result')})")
    elif kind in {EventKind.MESSAGE_RECORDED, EventKind.FALLBACK} and detail.get("recording_url"):
        call.outcome, call.recording_url = CallOutcome.MESSAGE, str(detail["recording_url"])
        content.append(f"{event.node}: message recorded ({detail.get('duration_s', 0)} s)")
    elif kind == EventKind.MESSAGE_EMPTY:
        # Offered a message and left none: nothing was resolved, whatever came before.
        call.outcome = CallOutcome.ABANDONED
        content.append(f"{event.node}: no message left")
    elif kind == EventKind.CLOSED_BY_IVR and call.outcome is None:
        call.outcome = CallOutcome.SELF_SERVED
    elif kind == EventKind.STATUS:
        _status(call, event.at, detail)
    elif kind == EventKind.TICKET_OPENED:
        call.outcome = CallOutcome.SELF_SERVED
        call.category = _category(detail.get("kind")) or call.category
        call.unit = str(detail.get("ul") or call.unit or "")[:64] or None
        content.append(f"{event.node}: {detail.get('kind')} ticket {detail.get('number')}")
    elif kind == EventKind.DIAL_RESULT:
        taken = detail.get("status") in {"completed", "answered"} and detail.get("bridged", True)
        if taken:
            call.outcome, call.handler = CallOutcome.AGENT_SERVED, "on-call engineer"
        content.append(f"{event.node}: on-call rung {detail.get('rung')} {detail.get('status')}")
    elif kind in ENGINEER_KINDS and "cb" not in detail:
        content.append(_engineer_line(event, detail))
    elif kind in DESK_KINDS:
        _desk(call, event, detail, content)
    elif kind in PLACED_KINDS:
        _placed(call, event, detail, content)


def _engineer_line(event: CallEventRow, detail: dict[str, Any]) -> str:
    """Who was briefed about an emergency order, and whether they took it."""
    who = f"on-call engineer {detail.get('phone') or '?'} (rung {int(detail.get('rung') or 0) + 1})"
    order = detail.get("number") or "?"
    if event.kind == EventKind.ENGINEER_BRIEFED:
        return f"{event.node}: {who} briefed on order {order}"
    took = "took" if detail.get("answer") == "accepted" else "did not take"
    return f"{event.node}: {who} {took} order {order}"


def _placed(call: Call, event: CallEventRow, detail: dict[str, Any], content: list[str]) -> None:
    """A call the hotline placed: a callback (agent first, then the resident) or a return
    visit. `caller_number` is the resident's, whichever way the call went."""
    call.direction = "outbound"
    call.caller_number = str(detail.get("phone") or call.caller_number)[:32]
    call.called_number = str(detail.get("line") or call.called_number)[:32]
    if isinstance(detail.get("agent_id"), int):
        call.agent_id = detail["agent_id"]
    topic = str(detail.get("topic", ""))
    call.category = call.category or _category("repair" if topic == "emergency" else topic)
    kind, value = event.kind, str(detail.get("status") or detail.get("answer") or "")
    if kind == EventKind.CALLBACK_STATUS:
        if value in CALL_STATUSES:  # not Twilio's progress-only "initiated" and "answered"
            _status(call, event.at, detail)
    elif kind == EventKind.CALLBACK_LEG:
        content.append(f"{event.node}: callback {detail.get('cb')}, {detail.get('leg')} answered")
    elif kind == EventKind.CALLBACK_AGENT:
        call.outcome = call.outcome if value == "accepted" else CallOutcome.FAILED
        content.append(f"{event.node}: the agent {value} the callback")
    elif kind == EventKind.CALLBACK_DIALED:
        served = value == "completed"
        call.outcome = CallOutcome.AGENT_SERVED if served else CallOutcome.FAILED
        call.handler = str(detail.get("agent") or "agent")[:64] if served else call.handler
        content.append(f"{event.node}: resident {'reached' if served else value}")
    elif kind == EventKind.SURVEY_RATED:
        _return_visit(call, event, str(detail.get("rating") or ""), content)
    elif kind == EventKind.ENGINEER_ANSWER:
        call.outcome = CallOutcome.AGENT_SERVED if value == "accepted" else CallOutcome.FAILED
        took = "took" if value == "accepted" else "did not take"
        content.append(f"{event.node}: on-call engineer {took} order {detail.get('t', '')}")


DISSATISFIED_FOLLOW_UP = (
    "来电评价不满意，请客服主管回访 (caller dissatisfied: supervisor to follow up)"
)


def _return_visit(call: Call, event: CallEventRow, rating: str, content: list[str]) -> None:
    call.outcome = CallOutcome.SELF_SERVED
    call.satisfaction = int(rating) if rating in {"1", "2", "3"} else None
    content.append(f"{event.node}: return visit rated {rating or 'nothing'}")


def _desk(call: Call, event: CallEventRow, detail: dict[str, Any], content: list[str]) -> None:
    """An agent took the caller from the desk: served from the moment their phone rings,
    back in the queue if they do not answer, abandoned if the caller hangs up meanwhile."""
    agent = str(detail.get("agent") or "")[:64] or None
    agent_id = detail.get("agent_id")
    status = str(detail.get("status", ""))
    if event.kind == EventKind.DESK_BRIDGE or status in AGENT_ANSWERED:
        call.outcome, call.handler = CallOutcome.AGENT_SERVED, agent
        call.agent_id = agent_id if isinstance(agent_id, int) else call.agent_id
        done = "put through to" if event.kind == EventKind.DESK_BRIDGE else "answered by"
        content.append(f"{event.node}: {done} {agent}")
        return
    call.handler, call.agent_id = None, None
    if detail.get("caller_gone"):
        call.outcome = CallOutcome.ABANDONED
        content.append(f"{event.node}: caller hung up while {agent} was rung")
    else:
        call.outcome = CallOutcome.TRANSFERRED  # the hand-off that follows names the queue
        content.append(f"{event.node}: {agent} did not answer ({status})")


def _unit(call: Call, detail: dict[str, Any]) -> None:
    if detail.get("unit"):
        call.unit = str(detail["unit"])[:64]
    resident = detail.get("resident_id")
    call.resident_id = int(resident) if isinstance(resident, int) else call.resident_id


def _started(call: Call, at: datetime, detail: dict[str, Any]) -> None:
    call.started_at = at
    call.caller_number = str(detail.get("from", ""))[:32]
    call.called_number = str(detail.get("to", ""))[:32]
    call.caller_name = (
        (str(detail["caller_name"])[:128] or None) if detail.get("caller_name") else None
    )
    call.locale = str(detail.get("locale", call.locale))


def _queue_result(call: Call, result: str) -> None:
    if result == "bridged":
        call.outcome = CallOutcome.AGENT_SERVED
    elif result == "hangup" and call.outcome != CallOutcome.CALLBACK:
        call.outcome = CallOutcome.ABANDONED


def _status(call: Call, at: datetime, detail: dict[str, Any]) -> None:
    raw = str(detail.get("status", ""))
    try:
        status = CallStatus(raw)
    except ValueError:
        log.warning("call %s: unknown status %r ignored", call.call_sid, raw)
        return
    call.status = status
    if status.is_final:
        call.ended_at = at
        duration = detail.get("duration_s")
        call.duration_s = int(duration) if isinstance(duration, int) else call.duration_s


def _category(raw: Any) -> CallCategory | None:
    try:
        return CallCategory(raw) if raw else None
    except ValueError:
        return None
