"""GET /readyz: 200 only when calls can be served end to end, and the reason otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.utils import now as utcnow
from rq.utils import utcformat

from ivr.calllog.spool import Spool
from ivr.queues import ALL_QUEUES, CALL_LOG_QUEUE
from ivr.voice.readiness import (
    BACKLOG_LIMIT_S,
    HEARTBEAT_LAPSE_S,
    SPOOL_LIMIT_S,
    check_readiness,
    queue_backlog,
)
from tests.processes import free_port


def everything_running(redis: Redis, beat_at: float | None = None) -> None:
    """A worker, the scheduler and cron as `ivr run` starts them, announced in Redis; the
    worker's last heartbeat at `beat_at` (a check run later still finds it beating)."""
    queues = [Queue(name, connection=redis) for name in ALL_QUEUES]
    worker = Worker(queues, connection=redis)
    worker.register_birth()  # type: ignore[no-untyped-call]
    if beat_at is not None:
        beat = datetime.fromtimestamp(beat_at, UTC)
        redis.hset(worker.key, "last_heartbeat", utcformat(beat))
    RQScheduler(list(ALL_QUEUES), connection=redis).acquire_locks()  # type: ignore[no-untyped-call]
    CronScheduler(redis, name="hotline-cron").register_birth()


def test_ready_when_workers_scheduler_and_cron_run(app: Flask, redis: Redis) -> None:
    everything_running(redis)

    answer = app.test_client().get("/readyz")

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ready"] is True
    assert body["problems"] == []
    assert body["checks"]["workers"] == 1
    assert body["checks"]["queues"][CALL_LOG_QUEUE] == {"jobs": 0, "oldest_s": 0.0}


def test_not_ready_without_workers_scheduler_or_cron(app: Flask) -> None:
    answer = app.test_client().get("/readyz")

    assert answer.status_code == 503
    problems = answer.get_json()["problems"]
    assert problems == [
        "no worker is running: calls are not logged and no SMS leaves",
        "the scheduler is not running: failed jobs are not retried",
        "cron is not running: no deadline sweeps and no due callbacks",
    ]


def test_a_killed_worker_is_missed_once_its_heartbeat_lapses(app: Flask, redis: Redis) -> None:
    everything_running(redis)
    for worker in Worker.all(connection=redis):
        redis.delete(worker.key)  # what a SIGKILL leaves once the worker's TTL runs out

    answer = app.test_client().get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json()["problems"] == [
        "no worker is running: calls are not logged and no SMS leaves"
    ]


def test_a_worker_whose_heartbeat_stopped_is_missed_before_rq_forgets_it(
    app: Flask, redis: Redis
) -> None:
    everything_running(redis)
    [worker] = Worker.all(connection=redis)
    # What a SIGKILL leaves for a minute and more: the worker's key, with its last beat.
    lapsed = utcnow() - timedelta(seconds=HEARTBEAT_LAPSE_S + 1)
    redis.hset(worker.key, "last_heartbeat", utcformat(lapsed))

    answer = app.test_client().get("/readyz")

    assert answer.status_code == 503
    body = answer.get_json()
    assert body["problems"] == ["no worker is running: calls are not logged and no SMS leaves"]
    assert (body["checks"]["workers"], body["checks"]["workers_silent"]) == (0, 1)


def test_a_backing_up_queue_is_reported(redis: Redis, tmp_path: Path) -> None:
    later = time.time() + BACKLOG_LIMIT_S + 15
    everything_running(redis, beat_at=later)
    queue = Queue(CALL_LOG_QUEUE, connection=redis)
    for n in range(3):
        queue.enqueue("worker.jobs.record_call_events", [], job_id=f"batch-{n}")

    found = check_readiness(redis, Spool(tmp_path / "spool"), now=later)

    assert not found.ready
    assert found.checks["queues"][CALL_LOG_QUEUE]["jobs"] == 3
    assert found.problems == [
        f"the call-log queue is backing up: 3 jobs, the oldest waiting {BACKLOG_LIMIT_S + 15:.0f} s"
    ]
    assert check_readiness(redis, Spool(tmp_path / "spool")).ready  # fresh jobs are fine


def test_a_backlog_is_aged_by_its_oldest_job_alone(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Queue(CALL_LOG_QUEUE, connection=redis)
    for n in range(50):
        queue.enqueue("worker.jobs.record_call_events", [], job_id=f"batch-{n}")
    read: list[int] = []
    fetch_many = Job.fetch_many

    def counting(job_ids: list[str], connection: Redis, **options: Any) -> list[Job | None]:
        read.append(len(job_ids))
        return fetch_many(job_ids, connection=connection, **options)

    monkeypatch.setattr(Job, "fetch_many", counting)
    jobs, oldest = queue_backlog(redis, CALL_LOG_QUEUE, time.time() + 60)

    assert jobs == 50
    assert 59 < oldest < 61
    assert read == [1]  # a backlog of thousands is measured without reading them all


def test_a_spool_that_does_not_drain_is_reported(redis: Redis, tmp_path: Path) -> None:
    later = time.time() + SPOOL_LIMIT_S + 30
    everything_running(redis, beat_at=later)
    spool = Spool(tmp_path / "spool")
    spool.put([{"call_sid": "CA1"}])
    spool.put([{"call_sid": "CA2"}])

    found = check_readiness(redis, spool, now=later)

    assert found.checks["spool"]["batches"] == 2
    assert found.problems == [
        f"the spool is not draining: 2 batches, the oldest {SPOOL_LIMIT_S + 30:.0f} s old"
    ]


def test_redis_down_is_a_clear_503_not_an_error(make_app: Callable[..., Flask]) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")

    answer = app.test_client().get("/readyz")

    assert answer.status_code == 503
    body = answer.get_json()
    assert body["checks"]["redis"] == "down"
    assert body["problems"][0].startswith("Redis is not answering (ConnectionError)")
    assert app.test_client().get("/healthz").status_code == 200  # the process itself is up
