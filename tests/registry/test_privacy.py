"""Residents' personal data: masking, and the retention purge that keeps the statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select

from ivr.calllog.write import record_events
from ivr.config import ConfigError, load_settings
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import (
    AuditAction,
    AuditEntry,
    Call,
    Callback,
    CallbackStatus,
    CallCategory,
    CallEventRow,
    CallOutcome,
    Disposition,
    MessageStatus,
    OutboundMessage,
    Ticket,
    TicketKind,
    TicketPriority,
    TicketStatus,
    WrapUp,
)
from ivr.queues import tickets_queue
from ivr.registry.privacy import (
    is_masked,
    mask_name,
    mask_number,
    purge_expired,
    purge_personal_data,
)
from ivr.services import services
from tests.records import stored
from worker.jobs import purge_expired_personal_data
from worker.process import daily_cron

RESIDENT = "+8613800138000"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("13800138000", "138****8000"),
        ("+8657112345678", "571****5678"),
        ("+15551234567", "+155****4567"),
        ("+8612345", "****45"),
        ("anonymous", "****"),
        ("", ""),
        ("138****8000", "138****8000"),
        ("****45", "****45"),
    ],
)
def test_numbers_are_masked_once(number: str, masked: str) -> None:
    assert mask_number(number) == masked
    assert mask_number(masked) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800138000*", "138****000*"),
        ("*13800138000", "*13****8000"),
        ("138*0013*8000", "138****8000"),
        ("138****80001234", "138****1234"),
        ("****13800138000", "*******8000"),
        ("*", "****"),
    ],
)
def test_a_star_does_not_pass_for_a_mask(number: str, masked: str) -> None:
    assert mask_number(number) == masked
    assert is_masked(masked)
    assert mask_number(masked) == masked


@pytest.mark.parametrize(
    "number",
    ["+8613800138000", "13800138000*", "+15551234567", "+8612", "12", "x", "\x00", "电话号码"],
)
def test_whatever_comes_in_goes_out_in_a_masked_shape(number: str) -> None:
    assert is_masked(mask_number(number))


def test_a_star_in_a_stored_number_does_not_spare_it_from_the_purge(
    app: Flask, clock: FrozenClock
) -> None:
    one_call(app, OLD, clock.now() - timedelta(days=400))
    with app.app_context(), services().db.session() as session:
        session.scalars(select(Call).filter_by(call_sid=OLD)).one().caller_number = "13800138000*"
    purge(app, clock)
    [call] = stored(app, Call, call_sid=OLD)
    assert call.caller_number == "138****000*"
    assert purge(app, clock) == (0, True)  # masked now: the next purge leaves it be


@pytest.mark.parametrize(
    ("name", "masked"),
    [("王丽", "王*"), ("欧阳明月", "欧**"), ("Alice", "A**"), ("", ""), (None, "")],
)
def test_names_keep_the_family_name(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


# --- the purge ------------------------------------------------------------------------------


def one_call(app: Flask, call_sid: str, start: datetime) -> None:
    """A repair call with everything personal a call leaves behind, as the workers store it."""

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    events = [
        CallEvent(
            call_sid,
            EventKind.CALL_STARTED,
            at(0),
            detail={"from": RESIDENT, "to": "+8657112345678", "caller_name": "王小明"},
        ),
        CallEvent(
            call_sid,
            EventKind.SPEECH,
            at(10),
            seq=1,
            node="main_menu",
            detail={"text": "我家厨房漏水了", "goto": "repair"},
        ),
        CallEvent(
            call_sid,
            EventKind.ROUTED,
            at(10),
            seq=1,
            node="main_menu",
            detail={"category": "repair"},
        ),
        CallEvent(
            call_sid,
            EventKind.IDENTIFIED,
            at(12),
            seq=2,
            node="whose_home",
            detail={"known": True, "unit": "1栋1单元101室", "resident_id": None},
        ),
        CallEvent(
            call_sid,
            EventKind.MESSAGE_RECORDED,
            at(40),
            seq=3,
            node="take_message",
            detail={"recording_url": RECORDING, "recording_sid": "RE1", "duration_s": 20},
        ),
        CallEvent(
            call_sid,
            EventKind.TICKET_OPENED,
            at(50),
            seq=4,
            node="repair_ticket",
            detail={"kind": "repair", "number": "1", "caller": RESIDENT, "desc": "厨房漏水"},
        ),
        CallEvent(
            call_sid,
            EventKind.STATUS,
            at(70),
            node="status",
            detail={"status": "completed", "duration_s": 70},
            key=f"{call_sid}:status",
        ),
    ]
    with app.app_context(), services().db.session() as session:
        record_events(session, events)
        ticket = Ticket(
            number=call_sid[-7:],
            number_year=start.year,
            kind=TicketKind.REPAIR,
            priority=TicketPriority.NORMAL,
            category="plumbing",
            sla_tier="small",
            status=TicketStatus.CLOSED,
            caller_number=RESIDENT,
            description="厨房漏水",
            recording_sid="RE1",
            recording_url=RECORDING,
            transcription="the kitchen pipe leaks",
            call_sid=call_sid,
            created_at=at(50),
        )
        session.add(ticket)
        session.flush()
        session.add_all(
            [
                Callback(
                    dedupe_key=f"message:{call_sid}",
                    call_sid=call_sid,
                    phone=RESIDENT,
                    reason="message left: no agent free",
                    due_at=at(3600),
                    status=CallbackStatus.DONE,
                    recording_url=RECORDING,
                    transcription="请回电",
                    created_at=at(40),
                ),
                OutboundMessage(
                    dedupe_key=f"ticket:{ticket.id}:confirmation",
                    to_number=RESIDENT,
                    body="您的报修已登记",
                    purpose="confirmation",
                    status=MessageStatus.SENT,
                    created_at=at(55),
                ),
                WrapUp(
                    call_sid=call_sid,
                    disposition=Disposition.REPAIR_ORDER,
                    notes="王先生说厨房漏水",
                    created_at=at(80),
                    updated_at=at(80),
                ),
            ]
        )


OLD, RECENT = "CA" + "0" * 31 + "1", "CA" + "0" * 31 + "2"


@pytest.fixture
def old_and_recent(app: Flask, clock: FrozenClock) -> Flask:
    one_call(app, OLD, clock.now() - timedelta(days=400))
    one_call(app, RECENT, clock.now() - timedelta(days=364))
    return app


def purge(app: Flask, clock: FrozenClock, **limits: Any) -> tuple[int, bool]:
    with app.app_context():
        run = purge_expired(services().db, clock.now(), 365, **limits)
    return run.records, run.finished


def event_details(app: Flask, call_sid: str) -> dict[str, dict[str, Any]]:
    return {event.kind: event.detail for event in stored(app, CallEventRow, call_sid=call_sid)}


def test_an_old_call_keeps_its_statistics_and_loses_who_called_and_what_they_said(
    old_and_recent: Flask, clock: FrozenClock
) -> None:
    app = old_and_recent
    assert purge(app, clock) == (5, True)
    [call] = stored(app, Call, call_sid=OLD)
    assert (call.caller_number, call.called_number, call.caller_name) == (
        "138****8000",
        "571****5678",
        None,
    )
    assert (call.recording_url, call.content, call.resident_id) == (None, "", None)
    assert (call.category, call.outcome, call.unit, call.duration_s) == (
        CallCategory.REPAIR,
        CallOutcome.SELF_SERVED,
        "1栋1单元101室",
        70,
    )
    assert call.started_at == clock.now() - timedelta(days=400)
    assert event_details(app, OLD) == {
        "call_started": {"from": "138****8000", "to": "571****5678"},
        "speech": {"goto": "repair"},
        "routed": {"category": "repair"},
        "identified": {"known": True, "unit": "1栋1单元101室", "resident_id": None},
        "message_recorded": {"duration_s": 20},
        "ticket_opened": {"kind": "repair", "number": "1", "caller": "138****8000"},
        "status": {"status": "completed", "duration_s": 70},
    }


def test_tickets_callbacks_sms_and_notes_of_old_calls_are_purged_too(
    old_and_recent: Flask, clock: FrozenClock
) -> None:
    app = old_and_recent
    purge(app, clock)
    [ticket] = stored(app, Ticket, call_sid=OLD)
    assert (ticket.caller_number, ticket.description, ticket.recording_sid) == (
        "138****8000",
        "",
        None,
    )
    assert (ticket.recording_url, ticket.transcription) == (None, None)
    assert (ticket.kind, ticket.category, ticket.status) == (
        TicketKind.REPAIR,
        "plumbing",
        TicketStatus.CLOSED,
    )
    [callback] = stored(app, Callback, call_sid=OLD)
    assert (callback.phone, callback.recording_url, callback.transcription) == (
        "138****8000",
        None,
        None,
    )
    [message] = stored(app, OutboundMessage, dedupe_key=f"ticket:{ticket.id}:confirmation")
    assert message.to_number == "138****8000"
    [wrap_up] = stored(app, WrapUp, call_sid=OLD)
    assert (wrap_up.notes, wrap_up.disposition) == ("", Disposition.REPAIR_ORDER)


def test_calls_inside_the_retention_period_are_untouched(
    old_and_recent: Flask, clock: FrozenClock
) -> None:
    app = old_and_recent
    purge(app, clock)
    [call] = stored(app, Call, call_sid=RECENT)
    assert (call.caller_number, call.caller_name, call.recording_url) == (
        RESIDENT,
        "王小明",
        RECORDING,
    )
    assert "我家厨房漏水了" in call.content
    assert event_details(app, RECENT)["speech"] == {"text": "我家厨房漏水了", "goto": "repair"}
    [ticket] = stored(app, Ticket, call_sid=RECENT)
    assert ticket.transcription == "the kitchen pipe leaks"
    [wrap_up] = stored(app, WrapUp, call_sid=RECENT)
    assert wrap_up.notes == "王先生说厨房漏水"


def test_purging_again_changes_nothing_and_the_audit_log_records_each_purge(
    old_and_recent: Flask, clock: FrozenClock
) -> None:
    app = old_and_recent
    assert purge(app, clock) == (5, True)
    before = stored(app, Call, call_sid=OLD)[0].caller_number, event_details(app, OLD)
    assert purge(app, clock) == (0, True)
    assert (stored(app, Call, call_sid=OLD)[0].caller_number, event_details(app, OLD)) == before
    [entry] = stored(app, AuditEntry)
    assert (entry.action, entry.username, entry.user_id, entry.at) == (
        AuditAction.RETENTION_PURGE,
        "system",
        None,
        clock.now(),
    )
    assert entry.detail == "5 records before 2025-11-23T02:00:00+00:00"


def test_the_purge_goes_in_batches_and_resumes_where_it_stopped(
    app: Flask, clock: FrozenClock
) -> None:
    for n in range(5):
        one_call(app, f"CA{n:032d}", clock.now() - timedelta(days=500 + n))
    assert purge(app, clock, batch_size=2, max_batches=2) == (4 * 5, False)
    assert [call.caller_number for call in stored(app, Call)].count(RESIDENT) == 1
    assert purge(app, clock, batch_size=2, max_batches=10) == (1 * 5, True)
    assert {call.caller_number for call in stored(app, Call)} == {"138****8000"}


def test_one_batch_of_each_kind_per_call(app: Flask, clock: FrozenClock) -> None:
    for n in range(3):
        one_call(app, f"CA{n:032d}", clock.now() - timedelta(days=500 + n))
    with app.app_context(), services().db.session() as session:
        assert purge_personal_data(session, clock.now(), 365, batch_size=2) == 2 * 5
    with app.app_context(), services().db.session() as session:
        assert purge_personal_data(session, clock.now(), 365, batch_size=2) == 1 * 5
    with app.app_context(), services().db.session() as session:
        assert purge_personal_data(session, clock.now(), 365, batch_size=2) == 0


def test_open_tickets_and_pending_callbacks_keep_the_number_to_call_back(
    app: Flask, clock: FrozenClock
) -> None:
    one_call(app, OLD, clock.now() - timedelta(days=400))
    with app.app_context(), services().db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.status = TicketStatus.ON_SITE
        session.scalars(select(Callback)).one().status = CallbackStatus.PENDING
    purge(app, clock)
    assert stored(app, Ticket)[0].caller_number == RESIDENT
    assert stored(app, Callback)[0].phone == RESIDENT
    assert stored(app, Call)[0].caller_number == "138****8000"


def test_a_late_replay_cannot_bring_the_number_back(
    old_and_recent: Flask, clock: FrozenClock
) -> None:
    app = old_and_recent
    purge(app, clock)
    late = CallEvent(OLD, EventKind.RATED, clock.now(), seq=9, node="rate", detail={"rating": 1})
    with app.app_context(), services().db.session() as session:
        record_events(session, [late])
    [call] = stored(app, Call, call_sid=OLD)
    assert (call.caller_number, call.caller_name, call.satisfaction) == ("138****8000", None, 1)


def test_the_daily_job_purges_through_the_worker(
    old_and_recent: Flask, redis: Redis, run_jobs: Callable[[], int]
) -> None:
    tickets_queue(redis).enqueue(purge_expired_personal_data)
    assert run_jobs() == 1
    assert stored(old_and_recent, Call, call_sid=OLD)[0].caller_number == "138****8000"
    assert stored(old_and_recent, Call, call_sid=RECENT)[0].caller_number == RESIDENT


def test_a_job_that_stops_at_its_limit_queues_its_sequel(
    app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(3):
        one_call(app, f"CA{n:032d}", clock.now() - timedelta(days=500 + n))
    monkeypatch.setattr("ivr.registry.privacy.PURGE_BATCH", 1)
    monkeypatch.setattr("ivr.registry.privacy.PURGE_BATCHES_PER_RUN", 1)
    tickets_queue(redis).enqueue(purge_expired_personal_data)
    run_jobs()  # a burst worker runs the sequels too, one call purged by each
    assert {call.caller_number for call in stored(app, Call)} == {"138****8000"}
    assert len(stored(app, AuditEntry)) == 3
    assert tickets_queue(redis).count == 0


def test_the_purge_runs_at_half_past_three_hotline_time() -> None:
    assert daily_cron(time(3, 30), ZoneInfo("Asia/Shanghai"), date(2026, 11, 23)) == "30 19 * * *"
    assert daily_cron(time(3, 30), ZoneInfo("UTC"), date(2026, 11, 23)) == "30 3 * * *"


def test_the_retention_period_is_configured_in_days(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    assert load_settings().retention_days == 365
    monkeypatch.setenv("RETENTION_DAYS", "180")
    assert load_settings().retention_days == 180
    monkeypatch.setenv("RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match="RETENTION_DAYS must be at least 1"):
        load_settings()
