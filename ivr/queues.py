"""Queue names, job defaults and the jobs by name, in one place for web and workers alike.

The web enqueues a job by its path (`worker.jobs.<name>`), so it never imports the worker;
`tests/worker/test_queues.py` checks that every name here is a job the worker has."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import JobStatus

# A job in these states is still going to run: asking again must not add another.
STILL_TO_RUN = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)

CALL_LOG_QUEUE = "call-log"

RECORD_JOB = "worker.jobs.record_call_events"
SEND_SMS_JOB = "worker.jobs.send_sms"
DISPATCH_JOB = "worker.jobs.dispatch_callback"
ESCALATE_JOB = "worker.jobs.escalate_complaint"
MONTHLY_REPORT_JOB = "worker.jobs.build_monthly_report"
JOB_NAMES = (RECORD_JOB, SEND_SMS_JOB, DISPATCH_JOB, ESCALATE_JOB, MONTHLY_REPORT_JOB)
REPORT_JOB_TIMEOUT_S = 1800  # a month of calls, read and drawn

# Call-log jobs are idempotent, so retrying is always safe; the scheduler runs the retries.
CALL_LOG_JOB: dict[str, Any] = {
    "retry": Retry(max=5, interval=[1, 5, 30, 120, 600]),
    "result_ttl": 0,
    "failure_ttl": 7 * 24 * 3600,
    "job_timeout": 60,
}

OUTBOUND_QUEUE = "outbound"

# SMS jobs send only from PENDING, so a retry never repeats a message Twilio took.
# Retries only follow temporary errors (429, 5xx, no connection), and the last one
# starts under four minutes after the first: R9 promises the SMS within five.
OUTBOUND_JOB: dict[str, Any] = {
    "retry": Retry(max=4, interval=[10, 30, 60, 120]),
    "result_ttl": 0,
    "failure_ttl": 7 * 24 * 3600,
    # Above ivr.outbound.telephony.REST_TIMEOUT_S, so Twilio's timeout fires first.
    "job_timeout": 30,
}

TICKETS_QUEUE = "tickets"

# Escalations and deadline sweeps check the ticket's state before acting, so re-runs are harmless.
TICKETS_JOB: dict[str, Any] = {
    "retry": Retry(max=3, interval=[10, 60, 300]),
    "result_ttl": 0,
    "failure_ttl": 7 * 24 * 3600,
    "job_timeout": 120,
}

# Outbound first: the few SMS jobs have a deadline and must not wait behind a call-log backlog.
ALL_QUEUES = (OUTBOUND_QUEUE, TICKETS_QUEUE, CALL_LOG_QUEUE)


def call_log_queue(connection: Redis) -> Queue:
    return Queue(CALL_LOG_QUEUE, connection=connection)


def outbound_queue(connection: Redis) -> Queue:
    return Queue(OUTBOUND_QUEUE, connection=connection)


def tickets_queue(connection: Redis) -> Queue:
    return Queue(TICKETS_QUEUE, connection=connection)
