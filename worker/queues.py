"""Queue names and job defaults, in one place for web and workers alike."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Retry

CALL_LOG_QUEUE = "call-log"

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
