"""KPIs of a period (R11), on a small hand-made month whose every figure is known.

Calls go through the real call-log path (record_events summarises their events as the
worker does); tickets, their log and callbacks are inserted as the workers leave them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from ivr.calllog.write import record_events
from ivr.config import Settings, load_settings
from ivr.core.events import CallEvent, EventKind
from ivr.models import (
    Call,
    Callback,
    CallbackKind,
    CallbackStatus,
    Ticket,
    TicketKind,
    TicketLog,
    TicketPriority,
    TicketStatus,
)
from ivr.reporting.kpi import Kpis, Ratio, kpis
from ivr.reporting.notable import NotableCall, notable
from ivr.reporting.periods import Period
from ivr.reporting.targets import check_targets
from ivr.store.db import Database
from tests.conftest import SHANGHAI

HOTLINE = "+8657112345678"
NOVEMBER = Period.month(2026, 11, SHANGHAI)


def local(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class HandMadeCall:
    """One inbound call as its webhooks would report it, step by step."""

    sid: str
    at: datetime
    caller: str
    greeting_ms: float | None = None
    category: str | None = None
    steps: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)
    status: str | None = "completed"

    def events(self) -> list[CallEvent]:
        started = {"from": self.caller, "to": HOTLINE}
        kinds: list[tuple[EventKind, dict[str, Any]]] = [(EventKind.CALL_STARTED, started)]
        if self.greeting_ms is not None:
            kinds.append((EventKind.GREETED, {"response_ms": self.greeting_ms}))
        if self.category:
            kinds.append((EventKind.ROUTED, {"category": self.category}))
        kinds += self.steps
        if self.status:
            kinds.append((EventKind.STATUS, {"status": self.status, "duration_s": 60}))
        return [
            CallEvent(self.sid, kind, self.at, seq=seq, node=f"step{seq}", detail=detail)
            for seq, (kind, detail) in enumerate(kinds)
        ]


def queued(result: str, waited_s: int) -> list[tuple[EventKind, dict[str, Any]]]:
    return [
        (EventKind.HANDOFF, {"queue": "general"}),
        (EventKind.QUEUE_RESULT, {"result": result, "queue": "general", "waited_s": waited_s}),
    ]


SELF_SERVED: tuple[EventKind, dict[str, Any]] = (EventKind.CLOSED_BY_IVR, {})


def rated(rating: str) -> tuple[EventKind, dict[str, Any]]:
    return (EventKind.RATED, {"rating": rating})


OWNER, NEIGHBOUR, TENANT = "+8613800138000", "+8613900139000", "+8613700137000"
CALLS = [
    # The owner reports a repair and is served by the IVR ... then calls again about it.
    HandMadeCall("CA_A", local(11, 2, 9, 10), OWNER, 120, "repair",
                 [(EventKind.CHOICE, {"field": "phone", "digits": "13812345678"}), SELF_SERVED,
                  rated("1")]),
    HandMadeCall("CA_B", local(11, 2, 9, 40), NEIGHBOUR, 150, "complaint",
                 [*queued("bridged", 15), rated("3")]),
    HandMadeCall("CA_C", local(11, 3, 14, 5), TENANT, 4200, "inquiry", queued("bridged", 45)),
    HandMadeCall("CA_D", local(11, 3, 14, 30), "+8613600136000", 100, "inquiry",
                 queued("hangup", 70)),
    HandMadeCall("CA_E", local(11, 5, 20, 15), OWNER, 90, "repair", [SELF_SERVED]),
    # The last evening of the month; the caller rings again on 2 December about the same.
    HandMadeCall("CA_F", local(11, 30, 23, 50), "+8613500135000", 3000, "inquiry",
                 [SELF_SERVED, rated("2")]),
    HandMadeCall("CA_G", local(12, 2, 10, 0), "+8613500135000", 80, "inquiry", [SELF_SERVED]),
    HandMadeCall("CA_H", local(10, 31, 23, 30), TENANT, 80, "inquiry", [SELF_SERVED]),
    HandMadeCall("CA_I", local(11, 10, 8, 0), "+8613400134000", status="busy"),
    HandMadeCall("CA_J", local(11, 12, 10, 0), TENANT, 110, "repair", status=None),
    HandMadeCall("CA_K", local(11, 12, 11, 0), TENANT, status="completed"),  # outbound, below
]  # fmt: skip


def ticket(number: str, kind: TicketKind, created: datetime, **fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "number": number,
        "number_year": 2026,
        "kind": kind,
        "priority": TicketPriority.NORMAL,
        "category": "water" if kind == TicketKind.REPAIR else "noise",
        "sla_tier": "small" if kind == TicketKind.REPAIR else "normal",
        "status": TicketStatus.OPEN,
        "caller_number": OWNER,
        "created_at": created,
        "escalation_level": 1,
        **fields,
    }
    return Ticket(**values)


def tickets() -> list[Ticket]:
    resolved = TicketStatus.DONE
    return [
        ticket("11020001", TicketKind.REPAIR, local(11, 2, 9, 12),
               resolve_by=local(11, 2, 21), resolved_at=local(11, 2, 18), status=resolved),
        ticket("11100001", TicketKind.REPAIR, local(11, 10, 8, 5),
               priority=TicketPriority.EMERGENCY, sla_tier="emergency",
               resolve_by=local(11, 11, 8), breached_at=local(11, 11, 8),
               resolved_at=local(11, 11, 9), status=resolved),
        ticket("11260001", TicketKind.REPAIR, local(11, 26, 10), resolve_by=local(12, 3, 10)),
        ticket("11210001", TicketKind.REPAIR, local(11, 21, 10), resolve_by=local(11, 28, 10)),
        ticket("11020002", TicketKind.COMPLAINT, local(11, 2, 9, 45),
               resolve_by=local(11, 2, 21), resolved_at=local(11, 2, 20), status=resolved),
        ticket("11200001", TicketKind.COMPLAINT, local(11, 20, 9), sla_tier="major",
               priority=TicketPriority.HIGH, escalation_level=3, caller_number=NEIGHBOUR,
               resolve_by=local(11, 20, 21), breached_at=local(11, 20, 21)),
    ]  # fmt: skip


def ticket_log(by_number: dict[str, int]) -> list[TicketLog]:
    def entry(number: str, key: str, at: datetime, kind: str, **detail: Any) -> TicketLog:
        ticket_id = by_number[number]
        return TicketLog(
            ticket_id=ticket_id, dedupe_key=f"{ticket_id}:{key}", at=at, kind=kind, detail=detail
        )

    return [
        entry("11200001", "escalated:3", local(11, 20, 10), "escalated", level=3),
        entry(
            "11020001",
            "visit",
            local(11, 3, 18),
            "return_visit",
            rating=1,
            satisfaction="satisfied",
        ),
        entry("11020002", "visit", local(11, 3, 19), "return_visit", rating="3"),
        entry("11020002", "old", local(10, 30, 19), "return_visit", rating=2),
        entry("11020002", "noted", local(11, 3, 20), "note", rating=1),
    ]


def callback(key: str, due: datetime, status: CallbackStatus, done: datetime | None) -> Callback:
    return Callback(
        dedupe_key=key,
        phone=OWNER,
        reason="message",
        due_at=due,
        status=status,
        created_at=local(11, 1),
        completed_at=done,
        kind=CallbackKind.RESIDENT,
    )


def callbacks() -> list[Callback]:
    return [
        callback("cb1", local(11, 4, 12), CallbackStatus.DONE, local(11, 4, 11)),
        callback("cb2", local(11, 6, 12), CallbackStatus.DONE, local(11, 7, 9)),
        callback("cb3", local(11, 8, 12), CallbackStatus.UNREACHABLE, None),
        callback("cb4", local(11, 29, 12), CallbackStatus.PENDING, None),
        callback("cb5", local(12, 1, 10), CallbackStatus.PENDING, None),
    ]


def seed_month(session: Session) -> None:
    """The hand-made month: calls through the call log, then tickets and callbacks."""
    record_events(session, [event for call in CALLS for event in call.events()])
    session.execute(update(Call).where(Call.call_sid == "CA_K").values(direction="outbound"))
    made = tickets()
    session.add_all(made)
    session.flush()
    session.add_all(ticket_log({t.number: t.id for t in made}))
    session.add_all(callbacks())


@dataclass(frozen=True)
class Hotline:
    db: Database
    settings: Settings


@contextmanager
def opened(database_url: str, **overrides: Any) -> Iterator[Hotline]:
    """The database and settings the statistics read: no web app, no Redis needed.
    IVR_DATA_DIR must name a scratch folder (settings keep development secrets there)."""
    db = Database(database_url)
    try:
        yield Hotline(db, load_settings().with_overrides(**overrides))
    finally:
        db.dispose()


@pytest.fixture
def make_hotline(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Hotline]]:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    with ExitStack() as stack:
        yield lambda **overrides: stack.enter_context(opened(database_url, **overrides))


@pytest.fixture
def hotline(make_hotline: Callable[..., Hotline]) -> Hotline:
    return make_hotline()


@pytest.fixture
def month(hotline: Hotline) -> Hotline:
    with hotline.db.session() as session:
        seed_month(session)
    return hotline


def figures_of(hotline: Hotline, period: Period = NOVEMBER, **options: Any) -> Kpis:
    with hotline.db.reader() as session:
        return kpis(session, period, hotline.settings, **options)


def test_call_figures_of_the_month(month: Hotline) -> None:
    k = figures_of(month)
    assert (k.calls, k.in_progress, k.offered, k.outbound_calls) == (8, 1, 7, 1)
    assert k.answer_rate == Ratio(6, 7)
    assert k.abandonment == Ratio(1, 7)
    assert k.three_ring == Ratio(6, 7)  # 4200 ms is late; 3000 ms is just in time
    assert k.agent_answer == Ratio(2, 3)
    assert k.service_level == Ratio(1, 3)  # 15 s bridged; 45 s bridged and 70 s hang-up missed
    assert (k.asa_s, k.longest_wait_s) == (30.0, 70)
    # Served: A, B, C, E, F. The owner rang again about the repair (E after A), and F's caller
    # again on 2 December, after the month ended: both were not resolved at the first call.
    assert k.first_call_resolution == Ratio(3, 5)
    assert k.satisfaction == {1: 1, 2: 1, 3: 1}
    assert k.satisfied == Ratio(1, 3)


def test_volume_by_day_hour_category_and_outcome(month: Hotline) -> None:
    k = figures_of(month)
    assert [(day.day, n) for day, n in k.per_day if n] == [
        (2, 2),
        (3, 2),
        (5, 1),
        (10, 1),
        (12, 1),
        (30, 1),
    ]
    assert len(k.per_day) == 30
    assert {hour: n for hour, n in enumerate(k.per_hour) if n} == {
        8: 1,
        9: 2,
        10: 1,
        14: 2,
        20: 1,
        23: 1,
    }
    assert k.by_category == {"inquiry": 3, "repair": 3, "": 1, "complaint": 1}
    assert k.by_outcome == {
        "self_served": 3,
        "agent_served": 2,
        "": 1,
        "abandoned": 1,
        "failed": 1,
    }
    assert (k.previous_calls, k.trend) == (1, 7.0)


def test_tickets_callbacks_and_surveys(month: Hotline) -> None:
    k = figures_of(month)
    assert k.repair_sla == Ratio(1, 3)  # one done in time, one late, one still open past due
    assert k.complaint_sla == Ratio(1, 2)
    assert k.breaches == {"repair": 1, "complaint": 1}
    assert k.escalations == 1
    assert k.complaints_by_level == {1: 1, 2: 0, 3: 1}
    assert (k.tickets_opened, k.emergencies) == ({"repair": 4, "complaint": 2}, 1)
    assert k.survey_satisfaction == {1: 1, 2: 0, 3: 1}  # a number or a string, as stored
    assert k.survey_satisfied == Ratio(1, 2)
    assert k.callbacks_on_time == Ratio(1, 4)
    assert k.callbacks_unreachable == 1


def test_deadlines_still_ahead_are_not_judged(month: Hotline) -> None:
    k = figures_of(month, now=local(11, 23, 10))
    assert k.repair_sla == Ratio(1, 2)  # the order due on the 28th is not late yet
    assert k.callbacks_on_time == Ratio(1, 3)


def test_targets_met_and_missed(month: Hotline) -> None:
    results = {check.key: check.met for check in check_targets(figures_of(month))}
    assert results == {
        "answer_rate": False,  # 85.7 % against 95 %
        "abandonment": False,  # 14.3 % against at most 5 %
        "three_ring": False,
        "service_level": False,
        "first_call_resolution": False,
        "repair_sla": False,
        "complaint_sla": False,
        "satisfaction": False,
        "callbacks_on_time": False,
    }


def test_notable_calls_and_tickets(month: Hotline) -> None:
    with month.db.reader() as session:
        found = notable(session, NOVEMBER, month.settings)
    assert [(c.call_sid, c.waited_s) for c in found.longest_waits] == [
        ("CA_D", 70),
        ("CA_C", 45),
        ("CA_B", 15),
    ]
    assert found.dissatisfied == [
        NotableCall(
            call_sid="CA_B",
            started_at=local(11, 2, 9, 40),
            caller="139****9000",
            unit="",
            category="complaint",
            outcome="agent_served",
            satisfaction=3,
        )
    ]
    assert [t.number for t in found.breaches] == ["11100001", "11200001"]
    assert [t.number for t in found.major_complaints] == ["11200001"]
    assert [(t.number, t.caller) for t in found.emergencies] == [("11100001", "138****8000")]


def test_an_empty_month_has_no_rates(hotline: Hotline) -> None:
    k = figures_of(hotline)
    assert (k.calls, k.offered, k.previous_calls, k.trend) == (0, 0, 0, None)
    assert k.answer_rate.value is None
    assert (k.asa_s, k.longest_wait_s) == (None, None)
    assert all(check.met is None for check in check_targets(k))
    assert (sum(k.per_hour), len(k.per_day)) == (0, 30)


def test_hours_are_placed_in_the_hotline_zone_to_the_quarter_hour(
    make_hotline: Callable[..., Hotline],
) -> None:
    """Kolkata is 5 h 30 ahead of UTC: 09:45 there is 04:15 UTC, and counts at 9 o'clock."""
    kolkata = ZoneInfo("Asia/Kolkata")
    kolkata_hotline = make_hotline(timezone=kolkata)
    moments = [
        datetime(2026, 11, 9, 9, 45, tzinfo=kolkata),
        datetime(2026, 11, 30, 23, 59, tzinfo=kolkata),
    ]
    with kolkata_hotline.db.session() as session:
        record_events(
            session,
            [
                e
                for n, at in enumerate(moments)
                for e in HandMadeCall(f"CA_{n}", at, OWNER).events()
            ],
        )
    k = figures_of(kolkata_hotline, Period.month(2026, 11, kolkata))
    assert {hour: n for hour, n in enumerate(k.per_hour) if n} == {9: 1, 23: 1}
    assert [day.day for day, n in k.per_day if n] == [9, 30]


@pytest.mark.parametrize(
    ("period", "start", "end", "previous", "label"),
    [
        (Period.month(2026, 11, SHANGHAI), local(11, 1, 0), local(12, 1, 0), "2026-10", "2026-11"),
        (Period.month(2026, 1, SHANGHAI), local(1, 1, 0), local(2, 1, 0), "2025-12", "2026-01"),
        (Period.month(2026, 12, SHANGHAI), local(12, 1, 0), local(1, 1, 0, year=2027), "2026-11", "2026-12"),
        (
            Period.between(date(2026, 11, 8), date(2026, 11, 14), SHANGHAI),
            local(11, 8, 0),
            local(11, 15, 0),
            "2026-11-01 – 2026-11-07",
            "2026-11-08 – 2026-11-14",
        ),
    ],
)  # fmt: skip
def test_periods(period: Period, start: datetime, end: datetime, previous: str, label: str) -> None:
    assert (period.start, period.end) == (start, end)
    assert (period.previous().label, period.label) == (previous, label)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "November", "", "2026-11-01"])
def test_a_month_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a month like 2026-11"):
        Period.parse_month(text, SHANGHAI)
