"""The SMS outbox: queued once per dedupe key, sent by a real RQ worker at most once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask
from redis import Redis
from rq.job import Job

from ivr.core.clock import FrozenClock
from ivr.models import MessageStatus, OutboundMessage
from ivr.outbound.sms import ORPHANED, claim_for_sending, enqueue_sms_delivery, queue_sms
from ivr.outbound.telephony import RecordingHttpClient
from ivr.queues import outbound_queue
from ivr.store.db import Database
from tests.conftest import services_of

RESIDENT = "+8613800138000"
CONFIRMATION = "【幸福家园物业】您的报修单 R-42 已受理，工程师将于4小时内上门。"
KEY = "ticket:42:confirmation"

RunJobs = Callable[[], int]


def queue(app: Flask, clock: FrozenClock, key: str = KEY, body: str = CONFIRMATION) -> int | None:
    with services_of(app).db.session() as session:
        return queue_sms(
            session, dedupe_key=key, to=RESIDENT, body=body, purpose="confirmation", now=clock.now()
        )


def queued(app: Flask, clock: FrozenClock, redis: Redis) -> int:
    """A committed SMS with its delivery job waiting, as a flow would leave it."""
    message_id = queue(app, clock)
    assert message_id is not None
    enqueue_sms_delivery(redis, message_id)
    return message_id


def stored(app: Flask, message_id: int) -> OutboundMessage:
    db: Database = services_of(app).db
    with db.reader() as session:
        message = session.get(OutboundMessage, message_id)
        assert message is not None
        return message


def scheduled_retries(redis: Redis) -> list[str]:
    return [str(job_id) for job_id in outbound_queue(redis).scheduled_job_registry.get_job_ids()]


def release_retries(redis: Redis) -> int:
    """What RQ's scheduler does once a retry's interval is over, without waiting it out."""
    outbound = outbound_queue(redis)
    waiting = scheduled_retries(redis)
    for job_id in waiting:
        outbound.scheduled_job_registry.remove(job_id)
        outbound.enqueue_job(Job.fetch(job_id, connection=redis))
    return len(waiting)


def test_queueing_stores_a_pending_sms(app: Flask, clock: FrozenClock) -> None:
    message_id = queue(app, clock)

    assert message_id is not None
    message = stored(app, message_id)
    assert (message.dedupe_key, message.to_number, message.body, message.purpose) == (
        KEY,
        RESIDENT,
        CONFIRMATION,
        "confirmation",
    )
    assert message.status is MessageStatus.PENDING
    assert message.created_at == clock.now()
    assert (message.twilio_sid, message.sent_at, message.error) == (None, None, None)


def test_the_same_dedupe_key_queues_once(app: Flask, clock: FrozenClock) -> None:
    first = queue(app, clock)
    again = queue(app, clock, body="a different text for the same reason")
    other = queue(app, clock, key="ticket:43:confirmation")

    assert first is not None
    assert again is None
    assert other not in {None, first}
    assert stored(app, first).body == CONFIRMATION


def test_a_worker_sends_the_sms_to_twilio(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    clock.advance(seconds=3)

    assert run_jobs() == 1

    [request] = twilio_rest.requests
    assert request.url.endswith("/Messages.json")
    hotline = services_of(app).settings.hotline_number
    assert request.data == {"To": RESIDENT, "From": hotline, "Body": CONFIRMATION}
    message = stored(app, message_id)
    assert message.status is MessageStatus.SENT
    assert message.twilio_sid is not None
    assert message.twilio_sid.startswith("SM")
    assert message.sent_at == clock.now()


def test_a_job_run_twice_sends_once(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    enqueue_sms_delivery(redis, message_id)

    assert run_jobs() == 2
    enqueue_sms_delivery(redis, message_id)
    assert run_jobs() == 1

    assert len(twilio_rest.requests) == 1
    assert stored(app, message_id).status is MessageStatus.SENT


def test_a_send_cut_off_by_a_dying_worker_is_never_repeated(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    with services_of(app).db.session() as session:  # the first worker claimed it, then died
        assert claim_for_sending(session, message_id) is not None

    run_jobs()
    enqueue_sms_delivery(redis, message_id)
    run_jobs()

    assert twilio_rest.requests == []
    message = stored(app, message_id)
    assert (message.status, message.error) == (MessageStatus.UNKNOWN, ORPHANED)


def test_a_permanent_error_fails_the_sms_without_retrying(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    twilio_rest.fail_next(400, 21211, "The 'To' number +8613800138000 is not a valid phone number.")

    run_jobs()
    enqueue_sms_delivery(redis, message_id)
    run_jobs()

    assert len(twilio_rest.requests) == 1
    assert scheduled_retries(redis) == []
    message = stored(app, message_id)
    assert message.status is MessageStatus.FAILED
    assert message.error == (
        "Twilio error 21211 (HTTP 400): Unable to create record:"
        " The 'To' number +8613800138000 is not a valid phone number."
    )


def test_a_temporary_error_is_retried_later_and_then_sent(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    twilio_rest.fail_next(503, 20503, "Service unavailable")

    run_jobs()

    waiting = stored(app, message_id)
    assert waiting.status is MessageStatus.PENDING
    assert (
        waiting.error
        == "Twilio error 20503 (HTTP 503): Unable to create record: Service unavailable"
    )
    [retry] = scheduled_retries(redis)
    delay = outbound_queue(redis).scheduled_job_registry.get_scheduled_time(retry)
    assert (delay - datetime.now(UTC)).total_seconds() > 5  # the first retry waits 10 s

    assert release_retries(redis) == 1
    assert run_jobs() == 1

    assert len(twilio_rest.requests) == 2
    sent = stored(app, message_id)
    assert (sent.status, sent.error) == (MessageStatus.SENT, None)


def test_temporary_errors_on_every_attempt_fail_the_sms(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    message_id = queued(app, clock, redis)
    for _ in range(5):  # the first attempt and four retries
        twilio_rest.fail_next(429, 20429, "Too Many Requests")

    run_jobs()
    while release_retries(redis):
        run_jobs()

    assert len(twilio_rest.requests) == 5
    message = stored(app, message_id)
    assert message.status is MessageStatus.FAILED
    assert message.error is not None
    assert "20429" in message.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (requests.ReadTimeout("read timed out"), MessageStatus.UNKNOWN),
        (requests.ConnectTimeout("connect timed out"), MessageStatus.PENDING),
    ],
)
def test_a_network_error_retries_only_when_twilio_cannot_have_the_sms(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    error: requests.RequestException,
    status: MessageStatus,
) -> None:
    message_id = queued(app, clock, redis)
    twilio_rest.raise_next(error)

    run_jobs()

    assert stored(app, message_id).status is status
    assert len(scheduled_retries(redis)) == (1 if status is MessageStatus.PENDING else 0)


def test_a_job_for_a_missing_sms_sends_nothing(
    app: Flask, redis: Redis, run_jobs: RunJobs, twilio_rest: RecordingHttpClient
) -> None:
    enqueue_sms_delivery(redis, 999)

    assert run_jobs() == 1
    assert twilio_rest.requests == []
