"""RQ jobs: plain functions taking ids and plain data, idempotent (RQ runs them at least once)."""

from __future__ import annotations

from typing import Any

from ivr.app import services
from ivr.calllog import record_events
from ivr.events import CallEvent
from worker.runtime import in_app_context


@in_app_context
def record_call_events(payload: list[dict[str, Any]]) -> int:
    """Write a webhook's events to the call log; returns how many were new."""
    events = [CallEvent.from_dict(item) for item in payload]
    with services().db.session() as session:
        return record_events(session, events)
