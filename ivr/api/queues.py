"""`GET /api/queues`: who is waiting for a person right now, queue by queue (R8)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ivr.api.params import iso
from ivr.calllog.waiting import Waiting, queue_order, waiting_callers


def caller_json(waiting: Waiting, now: datetime) -> dict[str, Any]:
    call = waiting.call
    return {
        "call_sid": call.call_sid,
        "caller_number": call.caller_number,
        "unit": call.unit,
        "category": call.category.value if call.category else None,
        "joined_at": iso(waiting.joined_at),
        "waited_s": waiting.waited_s(now),
    }


def queue_json(name: str, callers: Sequence[Waiting], now: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "waiting": len(callers),
        "longest_wait_s": max((w.waited_s(now) for w in callers), default=0),
        "callers": [caller_json(w, now) for w in callers],
    }


def queues_now(session: Session, known: Iterable[str], now: datetime) -> dict[str, Any]:
    """Every known queue, and any other with callers in it, most urgent first."""
    by_queue: dict[str, list[Waiting]] = {name: [] for name in known}
    for waiting in waiting_callers(session):
        by_queue.setdefault(waiting.queue, []).append(waiting)
    return {
        "as_of": iso(now),
        "queues": [
            queue_json(name, by_queue[name], now) for name in sorted(by_queue, key=queue_order)
        ],
    }
