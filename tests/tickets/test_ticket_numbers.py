"""Ticket numbers come from blocks leased in the database and are handed out from
memory: unique across processes, the same on replay, and never dependent on Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from ivr.calllog.sink import CallLogSink
from ivr.models import OutboundMessage, Ticket, TicketNumberBlock
from ivr.services import services
from ivr.store.db import Database
from ivr.store.redis_rest import RedisRest
from ivr.tickets.number_blocks import lease_in
from ivr.tickets.numbers import BLOCK_SIZE, PACE_WINDOW_S, TicketNumbers
from tests.call_walk import Walk
from tests.conftest import AUTH_TOKEN, BASE_URL, office_hours_moment
from tests.processes import free_port
from tests.records import stored
from tests.twilio_fake import TwilioFake

DAY = date(2026, 11, 23)


def complaint(phone: TwilioFake, sid: str) -> Walk:
    """A complaint about hygiene from 8栋1203室, in words: the number is read at the end."""
    walk = Walk(phone, sid).start().press("2").key_unit("8", "1203").press("1").press("2")
    return walk.say("楼道里的垃圾三天没人收了")


def heard_number(walk: Walk) -> str:
    said = next((text for text in walk.last_heard if "投诉单号" in text), str(walk.last_heard))
    return said.split("投诉单号是", 1)[1].split("。", 1)[0].replace(" ", "")


def phone_of(app: Flask) -> TwilioFake:
    return TwilioFake(app.test_client(), BASE_URL, AUTH_TOKEN)


def test_blocks_leased_at_once_never_overlap(database_url: str) -> None:
    db = Database(database_url)
    leased: list[range] = []

    def lease() -> None:
        with db.session() as session:
            leased.append(lease_in(session, DAY, BLOCK_SIZE, office_hours_moment()))

    threads = [threading.Thread(target=lease) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()

    numbers = [n for block in leased for n in block]
    assert sorted(numbers) == list(range(1, 8 * BLOCK_SIZE + 1))


def test_two_web_processes_never_hand_out_the_same_number(
    make_app: Callable[..., Flask], run_jobs: Callable[[], int]
) -> None:
    first, second = make_app(), make_app()
    heard = [
        heard_number(complaint(phone_of(app), f"CA7{n:02d}"))
        for n, app in enumerate([first, second] * 5)
    ]
    run_jobs()

    assert len(set(heard)) == 10
    assert sorted(t.number for t in stored(first, Ticket)) == sorted(heard)
    blocks = stored(first, TicketNumberBlock)
    assert {(b.day, b.last - b.first + 1) for b in blocks} == {
        ("20261123", BLOCK_SIZE),
        ("20261124", BLOCK_SIZE),
    }


def test_with_redis_down_the_number_heard_is_the_number_stored(
    make_app: Callable[..., Flask], run_jobs: Callable[[], int]
) -> None:
    down = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with down.app_context():
        numbers = services().numbers
    assert isinstance(numbers, TicketNumbers)
    heard = []
    for n in range(30):
        heard.append(heard_number(complaint(phone_of(down), f"CA8{n:02d}")))
        numbers.refill(DAY)  # what the leasing thread beside a web process does
    assert len(set(heard)) == 30

    # Redis is back: the spooled events reach the workers.
    up = make_app()
    with down.app_context():
        spooled = services().sink
    with up.app_context():
        sink = services().sink
    assert isinstance(spooled, CallLogSink)
    assert isinstance(sink, CallLogSink)
    assert sink.spool.directory == spooled.spool.directory
    assert sink.replay_spool() > 0
    run_jobs()

    stored_numbers = {t.call_sid: t.number for t in stored(up, Ticket)}
    assert stored_numbers == {f"CA8{n:02d}": heard[n] for n in range(30)}
    bodies = [m.body for m in stored(up, OutboundMessage)]
    assert all(any(number in body for body in bodies) for number in heard)


def test_a_replayed_webhook_hears_the_same_number(
    make_app: Callable[..., Flask], run_jobs: Callable[[], int]
) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    phone = phone_of(app)
    walk = Walk(phone, "CA900").start().press("2").key_unit("8", "1203").press("1").press("2")
    asked = walk.action
    first = walk.say("楼道里的垃圾三天没人收了").last_heard
    again = Walk(phone, "CA900")
    again.post(asked, SpeechResult="楼道里的垃圾三天没人收了", Confidence="0.9")
    assert again.last_heard == first


def test_with_no_number_in_hand_the_caller_is_told_it_comes_by_sms(
    app: Flask, run_jobs: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        numbers = services().numbers
    assert isinstance(numbers, TicketNumbers)
    monkeypatch.setattr(numbers, "_blocks", {})  # the database was away: nothing leased

    walk = complaint(phone_of(app), "CA901")
    assert walk.last_heard[0] == (
        "您的投诉已登记，投诉单号稍后会以短信发给您。我们会在今天之内调查核实，并由专人给您答复。"
    )
    run_jobs()

    [ticket] = stored(app, Ticket)
    assert ticket.number.startswith("1123")
    with app.app_context(), services().db.reader() as session:
        bodies = session.scalars(select(OutboundMessage.body)).all()
    assert any(ticket.number in body for body in bodies)


class CountingRedis:
    """Stands in for a Redis that does not answer, and counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def set(self, *args: object, **kwargs: object) -> bool:
        self.asked += 1
        raise RedisConnectionError("no answer")


def test_once_redis_has_failed_a_webhook_numbering_does_not_ask_it_again() -> None:
    rest = RedisRest(2.0)
    redis = CountingRedis()
    numbers = TicketNumbers(lambda day, size: range(1, size + 1), redis, rest)  # type: ignore[arg-type]
    numbers.refill(DAY)
    at = office_hours_moment()

    rest.failed()  # the call-log sink found Redis gone on this same webhook
    assert numbers.for_call("CA901", "complaint", at)
    assert redis.asked == 0

    fresh = TicketNumbers(lambda day, size: range(1, size + 1), redis, RedisRest(2.0))  # type: ignore[arg-type]
    fresh.refill(DAY)
    assert fresh.for_call("CA902", "complaint", at)
    assert fresh.for_call("CA903", "complaint", at)
    assert redis.asked == 1  # one timeout, then it rests


def test_under_a_surge_the_blocks_follow_the_pace() -> None:
    now = [1000.0]
    sizes: list[int] = []
    handed = [0]

    def lease(day: date, size: int) -> range:
        sizes.append(size)
        start = handed[0] + 1
        handed[0] += size
        return range(start, start + size)

    numbers = TicketNumbers(lease, None, monotonic=lambda: now[0])
    numbers.refill(DAY)
    assert sizes == [BLOCK_SIZE, BLOCK_SIZE]  # today and tomorrow, at the quiet pace
    at = office_hours_moment()
    for n in range(300):  # 300 tickets in 30 s: ten a second
        if numbers.for_call(f"CA9{n:03d}", "repair", at) is None:
            numbers.refill(DAY)
            assert numbers.for_call(f"CA9{n:03d}", "repair", at)
        now[0] += 0.1
        if n % 20 == 19:
            numbers.refill(DAY)  # the refill thread, every 2 s
    assert numbers.pace() == 300
    assert max(sizes) >= 200  # about thirty seconds of numbers at a time
    assert numbers.available(DAY) >= 100  # and about ten seconds in hand

    now[0] += PACE_WINDOW_S + 1  # the surge is over
    assert numbers.pace() == 0
