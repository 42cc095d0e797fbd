"""A worker on several queues takes each job through its queue's intermediate list, so
one killed as it takes a job leaves it where RQ's maintenance runs it again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue
from rq.registry import ScheduledJobRegistry

from ivr.models import CallEventRow
from ivr.queues import ALL_QUEUES, CALL_LOG_JOB, CALL_LOG_QUEUE, OUTBOUND_QUEUE, RECORD_JOB
from tests.calllog.test_call_log_batches import webhook_payload
from tests.records import stored
from worker.dequeue import ReliableQueue, intermediate_key
from worker.runtime import HotlineWorker


def queues(redis: Redis) -> list[Queue]:
    return [ReliableQueue(name, connection=redis) for name in ALL_QUEUES]


def test_a_taken_job_waits_in_its_queues_intermediate_list(redis: Redis) -> None:
    call_log = Queue(CALL_LOG_QUEUE, connection=redis)
    job = call_log.enqueue(RECORD_JOB, webhook_payload("CA0001", 1), **CALL_LOG_JOB)

    taken = ReliableQueue.dequeue_any(queues(redis), None, connection=redis)

    assert taken is not None
    assert (taken[0].id, taken[1].name) == (job.id, CALL_LOG_QUEUE)
    assert call_log.count == 0
    assert redis.lrange(intermediate_key(call_log.key), 0, -1) == [job.id.encode()]


def test_the_hotline_worker_takes_its_jobs_this_way(redis: Redis) -> None:
    call_log = Queue(CALL_LOG_QUEUE, connection=redis)
    job = call_log.enqueue(RECORD_JOB, webhook_payload("CA0001", 1), **CALL_LOG_JOB)

    taken = HotlineWorker(list(ALL_QUEUES), connection=redis).dequeue_job_and_maintain_ttl(None)

    # RQ's own BLPOP would have left no trace of the job it took.
    assert taken is not None
    assert taken[0].id == job.id
    assert redis.lrange(intermediate_key(call_log.key), 0, -1) == [job.id.encode()]


def test_jobs_are_taken_in_the_workers_queue_order(redis: Redis) -> None:
    Queue(CALL_LOG_QUEUE, connection=redis).enqueue(RECORD_JOB, webhook_payload("CA0001", 1))
    sms = Queue(OUTBOUND_QUEUE, connection=redis).enqueue("builtins.print")

    taken = ReliableQueue.dequeue_any(queues(redis), None, connection=redis)

    assert taken is not None
    assert taken[0].id == sms.id  # outbound comes first


def test_with_nothing_waiting_a_worker_returns_or_times_out(redis: Redis) -> None:
    assert ReliableQueue.dequeue_any(queues(redis), None, connection=redis) is None
    with pytest.raises(DequeueTimeout):
        ReliableQueue.dequeue_any(queues(redis), 1, connection=redis)


def test_a_job_that_vanished_is_passed_over(redis: Redis) -> None:
    call_log = Queue(CALL_LOG_QUEUE, connection=redis)
    gone = call_log.enqueue(RECORD_JOB, webhook_payload("CA0001", 1))
    kept = call_log.enqueue(RECORD_JOB, webhook_payload("CA0002", 2))
    redis.delete(gone.key)

    taken = ReliableQueue.dequeue_any(queues(redis), None, connection=redis)

    assert taken is not None
    assert taken[0].id == kept.id
    assert redis.lrange(intermediate_key(call_log.key), 0, -1) == [kept.id.encode()]


def test_a_job_run_to_the_end_leaves_no_trace(
    app: Flask, redis: Redis, run_jobs: Callable[[], int]
) -> None:
    call_log = Queue(CALL_LOG_QUEUE, connection=redis)
    call_log.enqueue(RECORD_JOB, webhook_payload("CA0001", 1), **CALL_LOG_JOB)

    run_jobs()

    assert len(stored(app, CallEventRow)) == 2
    assert all(redis.llen(intermediate_key(queue.key)) == 0 for queue in queues(redis))


def test_a_job_taken_by_a_worker_that_died_is_run_again(
    app: Flask, redis: Redis, run_jobs: Callable[[], int]
) -> None:
    call_log = Queue(CALL_LOG_QUEUE, connection=redis)
    job = call_log.enqueue(RECORD_JOB, webhook_payload("CA0001", 1), **CALL_LOG_JOB)
    # Taken, and the worker killed before it could start the job: with BLPOP the id would
    # now be in no queue and no registry.
    ReliableQueue.dequeue_any(queues(redis), None, connection=redis)
    left = IntermediateQueue(call_log.key, connection=redis)
    # RQ's maintenance retries what has sat in the list for over a minute since it first
    # saw it; that first sighting is set back rather than waited for.
    survivor = HotlineWorker(queues(redis), connection=redis)
    survivor.clean_registries()  # type: ignore[no-untyped-call]
    redis.set(left.get_first_seen_key(job.id), time.time() - 120)
    survivor.clean_registries()  # type: ignore[no-untyped-call]

    assert left.get_job_ids() == []
    scheduled = ScheduledJobRegistry(queue=call_log)  # type: ignore[no-untyped-call]
    assert scheduled.get_job_ids() == [job.id]  # its first retry, a second later
    scheduled.remove(job)
    call_log.enqueue_job(job)
    run_jobs()
    assert len(stored(app, CallEventRow)) == 2
