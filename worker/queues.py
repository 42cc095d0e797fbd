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

ALL_QUEUES = (CALL_LOG_QUEUE,)


def call_log_queue(connection: Redis) -> Queue:
    return Queue(CALL_LOG_QUEUE, connection=connection)
