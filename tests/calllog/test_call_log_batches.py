"""A worker stores the call-log jobs queued behind the one it runs in one transaction,
and loses none of them when that fails or the worker dies holding them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

import worker.call_log_batches
import worker.jobs
from ivr.core.events import CallEvent, EventKind
from ivr.models import Call, CallEventRow
from ivr.queues import CALL_LOG_JOB, CALL_LOG_QUEUE, RECORD_JOB
from tests.conftest import office_hours_moment
from tests.records import stored
from worker.call_log_batches import (
    HANDS_KEY,
    QUEUE_KEY,
    TAKE_AT_MOST_DEFAULT,
    TAKE_AT_MOST_VARIABLE,
    configured_take_at_most,
    give_back_abandoned,
    in_hand_key,
    queued_behind,
)


def webhook_payload(sid: str, n: int) -> list[dict[str, Any]]:
    at = office_hours_moment() + timedelta(seconds=n)
    return [
        CallEvent(sid, EventKind.CALL_STARTED, at, detail={"from": "+8613900000001"}).to_dict(),
        CallEvent(
            sid, EventKind.CHOICE, at, seq=1, node="main_menu", detail={"digits": "3"}
        ).to_dict(),
    ]


def enqueue_webhooks(redis: Redis, count: int) -> None:
    queue = Queue(CALL_LOG_QUEUE, connection=redis)
    for n in range(count):
        queue.enqueue(RECORD_JOB, webhook_payload(f"CA{n:04d}", n), **CALL_LOG_JOB)


def transactions(monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> list[int]:
    """Counts the webhooks each call-log transaction stored."""
    sizes: list[int] = []
    real = worker.jobs._store_call_events

    def counting(found: Any, payloads: list[list[dict[str, Any]]]) -> int:
        sizes.append(len(payloads))
        if fail_first and len(sizes) == 1:
            raise RuntimeError("the database went away")
        return real(found, payloads)

    monkeypatch.setattr(worker.jobs, "_store_call_events", counting)
    return sizes


def test_queued_webhooks_are_stored_together(
    app: Flask, redis: Redis, run_jobs: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue_webhooks(redis, 60)
    sizes = transactions(monkeypatch)

    run_jobs()

    assert sizes == [60]  # one job, and the 59 behind it, in one transaction
    assert len(stored(app, Call)) == 60
    assert len(stored(app, CallEventRow)) == 120
    assert redis.llen(QUEUE_KEY) == 0
    assert redis.smembers(HANDS_KEY) == set()
    assert not redis.keys("rq:job:*")  # the jobs taken along are gone once stored


def test_taking_none_along_stores_each_webhook_alone(
    app: Flask, redis: Redis, run_jobs: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker.call_log_batches, "TAKE_AT_MOST", 0)
    enqueue_webhooks(redis, 5)
    sizes = transactions(monkeypatch)

    run_jobs()

    assert sizes == [1, 1, 1, 1, 1]  # one job per webhook, nothing taken from behind it
    assert len(stored(app, CallEventRow)) == 10
    assert redis.smembers(HANDS_KEY) == set()


def test_how_many_are_taken_along_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TAKE_AT_MOST_VARIABLE, "0")
    assert configured_take_at_most() == 0
    monkeypatch.setenv(TAKE_AT_MOST_VARIABLE, "250")
    assert configured_take_at_most() == 250
    monkeypatch.delenv(TAKE_AT_MOST_VARIABLE)
    assert configured_take_at_most() == TAKE_AT_MOST_DEFAULT


def test_a_failed_transaction_puts_the_jobs_back(
    app: Flask, redis: Redis, monkeypatch: pytest.MonkeyPatch, run_jobs: Callable[[], int]
) -> None:
    enqueue_webhooks(redis, 10)
    sizes = transactions(monkeypatch, fail_first=True)

    run_jobs()

    assert sizes[:2] == [10, 9]  # the 9 taken along went back, and were stored next
    assert len(stored(app, CallEventRow)) == 18
    assert redis.smembers(HANDS_KEY) == set()
    retry = ScheduledJobRegistry(CALL_LOG_QUEUE, connection=redis)  # type: ignore[no-untyped-call]
    assert retry.count == 1  # the failed job itself, as RQ retries it


def test_jobs_held_by_a_dead_worker_go_back_to_the_queue(
    app: Flask, redis: Redis, run_jobs: Callable[[], int]
) -> None:
    enqueue_webhooks(redis, 5)
    hand = in_hand_key("gone-worker")
    for _ in range(3):  # what a worker killed mid-batch leaves behind
        job_id = redis.lpop(QUEUE_KEY)
        assert isinstance(job_id, bytes)
        redis.rpush(hand, job_id)
    redis.sadd(HANDS_KEY, hand)
    redis.set("rq:worker:alive-worker", "1")
    redis.rpush(in_hand_key("alive-worker"), "kept")
    redis.sadd(HANDS_KEY, in_hand_key("alive-worker"))

    assert give_back_abandoned(redis) == 3

    assert redis.llen(QUEUE_KEY) == 5
    assert redis.smembers(HANDS_KEY) == {in_hand_key("alive-worker").encode()}
    redis.delete(in_hand_key("alive-worker"), HANDS_KEY)
    run_jobs()
    assert len(stored(app, CallEventRow)) == 10


def test_jobs_left_in_a_living_workers_hand_are_stored_with_its_next_batch(
    app: Flask, redis: Redis
) -> None:
    enqueue_webhooks(redis, 4)
    hand = in_hand_key("carried-on")
    for _ in range(2):  # a take whose jobs were neither stored nor given back (Redis dropped)
        job_id = redis.lpop(QUEUE_KEY)
        assert isinstance(job_id, bytes)
        redis.rpush(hand, job_id)
    redis.sadd(HANDS_KEY, hand)

    with queued_behind(redis, "carried-on", RECORD_JOB) as payloads:
        sids = [payload[0]["call_sid"] for payload in payloads]

    assert sids == ["CA0000", "CA0001", "CA0002", "CA0003"]  # the two held first
    assert redis.llen(hand) == 0
    assert redis.smembers(HANDS_KEY) == set()


def test_a_take_never_holds_more_than_its_limit(redis: Redis) -> None:
    enqueue_webhooks(redis, 5)
    hand = in_hand_key("carried-on")
    job_id = redis.lpop(QUEUE_KEY)
    assert isinstance(job_id, bytes)
    redis.rpush(hand, job_id)

    with queued_behind(redis, "carried-on", RECORD_JOB, limit=3) as payloads:
        assert len(payloads) == 3  # the one held, and two from the queue
    assert redis.llen(QUEUE_KEY) == 2
