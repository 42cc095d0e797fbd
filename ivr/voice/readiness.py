"""`GET /readyz`: can this web process serve calls end to end right now?

/healthz only says the process is up. A hotline whose workers are gone still greets
callers, but nothing is logged, no SMS leaves and no callback is made; this says so,
with the reason, so a load balancer or an operator can act.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker

from ivr.calllog.spool import Spool
from ivr.queues import ALL_QUEUES, CALL_LOG_QUEUE

BACKLOG_LIMIT_S = 30.0  # a call-log job older than this: the workers are not keeping up
SPOOL_LIMIT_S = 60.0  # the replayer runs every few seconds; a batch this old is stuck
# RQ workers beat every 15 s when idle and every 30 s while a job runs; RQ itself forgets a
# worker only 60 s after its time-to-live, so a killed one would count for a minute and more.
HEARTBEAT_LAPSE_S = 45.0


@dataclass
class Readiness:
    problems: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "problems": self.problems, "checks": self.checks}


def check_readiness(redis: Redis, spool: Spool, now: float | None = None) -> Readiness:
    at = time.time() if now is None else now
    found = Readiness()
    _check_spool(found, spool, at)
    try:
        redis.ping()
    except (RedisError, OSError) as error:
        found.checks["redis"] = "down"
        found.problems.append(
            f"Redis is not answering ({type(error).__name__}): calls are greeted and their"
            " events wait in the spool, but nothing reaches the workers"
        )
        return found
    found.checks["redis"] = "ok"
    try:
        _check_workers(found, redis, at)
        _check_schedulers(found, redis)
        _check_queues(found, redis, at)
    except (RedisError, OSError) as error:
        found.problems.append(f"Redis failed during the check ({type(error).__name__})")
    return found


def _check_spool(found: Readiness, spool: Spool, at: float) -> None:
    pending = spool.pending()
    oldest = _spooled_at(pending[0].name) if pending else None
    age = max(0.0, at - oldest) if oldest is not None else 0.0
    found.checks["spool"] = {"batches": len(pending), "oldest_s": round(age, 1)}
    if pending and age > SPOOL_LIMIT_S:
        found.problems.append(
            f"the spool is not draining: {len(pending)} batches, the oldest {age:.0f} s old"
        )


def _spooled_at(name: str) -> float | None:
    """Spool files are named by the nanosecond they were written (see ivr.calllog.spool)."""
    head = name.split("-", 1)[0]
    return int(head) / 1e9 if head.isdigit() else None


def _check_workers(found: Readiness, redis: Redis, at: float) -> None:
    workers = [w for w in Worker.all(connection=redis) if CALL_LOG_QUEUE in w.queue_names()]
    beating = [w for w in workers if _beats(w, at)]
    found.checks["workers"] = len(beating)
    if len(beating) < len(workers):
        found.checks["workers_silent"] = len(workers) - len(beating)
    if not beating:
        found.problems.append("no worker is running: calls are not logged and no SMS leaves")


def _beats(worker: BaseWorker, at: float) -> bool:
    last = worker.last_heartbeat
    return last is not None and at - last.timestamp() <= HEARTBEAT_LAPSE_S


def _check_schedulers(found: Readiness, redis: Redis) -> None:
    scheduling = bool(redis.exists(RQScheduler.get_locking_key(CALL_LOG_QUEUE)))
    found.checks["scheduler"] = scheduling
    if not scheduling:
        found.problems.append("the scheduler is not running: failed jobs are not retried")
    cron = bool(CronScheduler.all(redis))
    found.checks["cron"] = cron
    if not cron:
        found.problems.append("cron is not running: no deadline sweeps and no due callbacks")


def _check_queues(found: Readiness, redis: Redis, at: float) -> None:
    queues: dict[str, dict[str, float]] = {}
    for name in ALL_QUEUES:
        jobs, age = queue_backlog(redis, name, at)
        queues[name] = {"jobs": jobs, "oldest_s": round(age, 1)}
        if age > BACKLOG_LIMIT_S:
            found.problems.append(
                f"the {name} queue is backing up: {jobs} jobs, the oldest waiting {age:.0f} s"
            )
    found.checks["queues"] = queues


def queue_backlog(redis: Redis, name: str, at: float | None = None) -> tuple[int, float]:
    """The jobs waiting in one queue, and how long the oldest of them has waited (s)."""
    queue = Queue(name, connection=redis)
    jobs = queue.count
    if not jobs:
        return 0, 0.0
    return jobs, _oldest_age(queue, redis, time.time() if at is None else at)


def _oldest_age(queue: Queue, redis: Redis, at: float) -> float:
    head = queue.get_job_ids(0, 1)  # one id: a length of 0 would mean the whole queue to RQ
    job = Job.fetch_many(head, connection=redis)[0] if head else None
    if job is None or job.enqueued_at is None:
        return 0.0
    return max(0.0, at - job.enqueued_at.timestamp())
