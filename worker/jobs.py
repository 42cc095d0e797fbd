"""RQ jobs: plain functions taking ids and plain data, idempotent (RQ runs them at least once)."""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from ivr.callbacks.dispatch import callbacks_to_try, try_callback
from ivr.intake.events import take_in
from ivr.models import Ticket
from ivr.outbound.schedule import enqueue_due
from ivr.outbound.sms import (
    deliver_sms,
    settle_abandoned_sends,
    unsent_pending,
)
from ivr.queues import RECORD_JOB, TICKETS_JOB, tickets_queue
from ivr.registry.privacy import purge_expired
from ivr.reporting.monthly import build_scheduled_report
from ivr.services import Services
from ivr.tickets.lifecycle import (
    FollowUps,
    escalate_if_due,
    flag_service_levels,
    hand_on,
    tickets_needing_attention,
)
from worker.call_log_batches import queued_behind
from worker.runtime import job_services, job_will_retry


def record_call_events(payload: list[dict[str, Any]]) -> int:
    """Write a webhook's events to the call log and act on them, with those of the
    call-log jobs queued behind it (worker.call_log_batches); returns how many were new.
    An event that cannot be stored is parked as a dead letter; the rest are kept."""
    found = job_services()
    job = get_current_job()
    if job is None or not job.worker_name:  # called directly, not by a worker
        return _store_call_events(found, [payload])
    with queued_behind(job.connection, job.worker_name, RECORD_JOB) as more:
        return _store_call_events(found, [payload, *more])


def _store_call_events(found: Services, payloads: list[list[dict[str, Any]]]) -> int:
    batch = [item for payload in payloads for item in payload]
    with found.db.session() as session:
        intake = take_in(session, batch, found.settings, found.engine.catalogues, found.clock.now())
    hand_on(found.redis, intake.follow)
    return intake.added


def send_sms(message_id: int) -> str | None:
    """Send one outbox SMS at most once; returns the status it ended in (None: no such row)."""
    found = job_services()
    status = deliver_sms(
        found.db, found.telephony, found.clock, message_id, may_retry=job_will_retry()
    )
    return status.value if status else None


def escalate_complaint(ticket_id: int) -> int:
    """Scheduled at a complaint's escalation time; returns its level afterwards."""
    found = job_services()
    now = found.clock.now()
    with found.db.session() as session:
        ticket = session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None:
            return 0
        follow = escalate_if_due(session, ticket, now, found.settings, found.engine.catalogues)
        level = ticket.escalation_level
    hand_on(found.redis, follow)
    return level


def sweep_deadlines() -> int:
    """Every minute: escalations that are due, tickets about to miss or past their deadline,
    and SMS rows that never reached the queue. The safety net under the scheduled jobs."""
    found = job_services()
    now = found.clock.now()
    follow = FollowUps()
    with found.db.session() as session:
        tickets = list(tickets_needing_attention(session, now))
        for ticket in tickets:
            for step in (escalate_if_due, flag_service_levels):
                done = step(session, ticket, now, found.settings, found.engine.catalogues)
                follow.sms += done.sms
                follow.escalations += done.escalations
        follow.sms += unsent_pending(session, now)
        settle_abandoned_sends(session, now)
    hand_on(found.redis, follow)
    return len(tickets)


def sweep_callbacks() -> int:
    """Every minute: settle callback attempts that went quiet, and hand the callbacks due
    now (in office hours, while agents are free) to the outbound queue, in their order."""
    found = job_services()
    with found.db.session() as session:
        due = callbacks_to_try(session, found.clock.now(), found.settings)
    for callback_id in due:
        enqueue_due(found.redis, callback_id)
    return len(due)


def dispatch_callback(callback_id: int, on_request: bool = True) -> str | None:
    """One try of one callback, at most one call; returns the attempt's status (None: not
    tried now). `on_request`: a person asked, so neither office hours nor the wait apply."""
    found = job_services()
    status = try_callback(
        found.db,
        found.telephony,
        found.settings,
        found.clock.now(),
        callback_id,
        on_request=on_request,
    )
    return status.value if status else None


def purge_expired_personal_data() -> int:
    """Daily: personal data past RETENTION_DAYS removed (ivr/registry/privacy.py), a bounded number
    of batches per run; when more is left the job queues its sequel behind the other jobs.
    Returns how many records changed."""
    found = job_services()
    run = purge_expired(found.db, found.clock.now(), found.settings.retention_days)
    if not run.finished:
        tickets_queue(found.redis).enqueue(purge_expired_personal_data, **TICKETS_JOB)
    return run.records


def build_monthly_report(month: str | None = None) -> str | None:
    """Last month's report (or `month`, YYYY-MM) into <IVR_DATA_DIR>/reports/YYYY-MM/, once:
    due from 06:00 hotline time on the 1st; a finished report is left as it is. Returns the
    folder written, None when there was nothing to do."""
    found = job_services()
    built = build_scheduled_report(found.db, found.settings, found.clock, month)
    return str(built) if built else None
