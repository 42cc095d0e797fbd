"""Who is waiting for a person right now, queue by queue, from the call log (R8).

A caller waits from the call's latest `handoff` event until a `queue_result` follows it
(bridged, hung up, left for a message) or the call ends. The register entry already
says most of it: outcome `transferred` and a status Twilio has not closed; the events
then give when the caller joined, and drop anyone who has left the queue since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ivr.core.events import EventKind
from ivr.flows.definition import Flow
from ivr.models import Call, CallEventRow, CallOutcome, CallStatus

# Served in this order (emergencies and complaints first); other queues come after, by name.
QUEUE_PRIORITY = ("emergency", "complaint", "repair", "inquiry", "general")
UNNAMED_QUEUE = "general"
WAITING_STATUSES = tuple(status for status in CallStatus if not status.is_final)
QUEUE_MOVES = (EventKind.HANDOFF.value, EventKind.QUEUE_RESULT.value)


@dataclass(frozen=True)
class Waiting:
    """A caller in a queue, since `joined_at`."""

    call: Call
    joined_at: datetime

    @property
    def queue(self) -> str:
        return self.call.queue or UNNAMED_QUEUE

    def waited_s(self, now: datetime) -> int:
        return max(0, int((now - self.joined_at).total_seconds()))


def flow_queues(flow: Flow) -> list[str]:
    """The queues the flow can put a caller in, each once."""
    names = (node.queue for node in flow.nodes.values() if node.type == "queue" and node.queue)
    return list(dict.fromkeys(names))


def queue_order(name: str) -> tuple[int, str]:
    rank = QUEUE_PRIORITY.index(name) if name in QUEUE_PRIORITY else len(QUEUE_PRIORITY)
    return rank, name


def transferred_calls() -> Select[Call]:
    """Calls handed to a person whose line Twilio still reports open."""
    return select(Call).where(
        Call.outcome == CallOutcome.TRANSFERRED, Call.status.in_(WAITING_STATUSES)
    )


def waiting_callers(session: Session) -> list[Waiting]:
    """Two queries: the open transferred calls, then their queue events in log order."""
    calls = list(session.scalars(transferred_calls().order_by(Call.started_at, Call.id)))
    if not calls:
        return []
    moves = session.execute(
        select(CallEventRow.call_sid, CallEventRow.kind, CallEventRow.at)
        .where(
            CallEventRow.call_sid.in_(transferred_calls().with_only_columns(Call.call_sid)),
            CallEventRow.kind.in_(QUEUE_MOVES),
        )
        .order_by(CallEventRow.at, CallEventRow.seq, CallEventRow.id)
    )
    last_move: dict[str, tuple[str, datetime]] = {}
    for sid, kind, at in moves:
        last_move[sid] = (kind, at)
    waiting = []
    for call in calls:
        kind, at = last_move.get(call.call_sid, ("", call.started_at))
        if kind == EventKind.HANDOFF:
            waiting.append(Waiting(call, at))
    return sorted(waiting, key=lambda w: (w.joined_at, w.call.id))
