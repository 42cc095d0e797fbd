"""Complaints by phone (R6): apology first, category, the caller's account, a ticket,
and escalation 接待人 -> 客服主管 -> 主管副总经理 by scheduled jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.app import refresh_directory
from ivr.core.clock import FrozenClock
from ivr.models import OutboundMessage, Ticket, TicketLog
from ivr.registry.residents import load_demo_estate
from ivr.services import services
from tests.call_walk import Walk
from tests.conftest import SHANGHAI
from tests.records import stored
from tests.twilio_fake import TwilioFake

RECEPTION, SUPERVISOR, DEPUTY_GM = "+8613700000001", "+8613700000002", "+8613700000003"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=(RECEPTION, SUPERVISOR, DEPUTY_GM))


def the_ticket(app: Flask) -> Ticket:
    [ticket] = stored(app, Ticket)
    return ticket


def history(app: Flask) -> list[tuple[str, int | None]]:
    return [(row.kind, row.detail.get("level")) for row in stored(app, TicketLog)]


def texts_to(app: Flask) -> list[tuple[str, str]]:
    return [(row.to_number, row.purpose) for row in stored(app, OutboundMessage)]


def complain(twilio: TwilioFake, category: str, sid: str = "CA600") -> Walk:
    walk = Walk(twilio, sid).start().press("2")
    walk.key_unit("8", "1203").press("1")  # building 8, room 1203, confirmed
    walk.press(category)
    return walk


def test_a_complaint_opens_with_the_apology_and_ends_with_a_ticket(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = Walk(twilio, "CA600").start().press("2")
    assert walk.last_heard[0] == "对不起，给您添麻烦了，我们代表物业公司向您致歉。"
    walk.key_unit("8", "1203").press("1").press("4")
    assert walk.last_heard == ["请您讲一下遇到的情况，我们会认真记录，说完请稍等。"]
    walk.say("楼上每天晚上十二点以后还在装修，很吵")
    assert walk.last_heard == [
        "您的投诉已登记，投诉单号是1 1 2 3 0 0 1。我们会在今天之内调查核实，并由专人给您答复。",
        "请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。",
    ]
    walk.silence()  # the rating is optional
    assert walk.last_heard == ["谢谢您的来电，我们会在今天之内调查核实并给您答复，再见！"]
    walk.hang_up()
    run_jobs()
    ticket = the_ticket(app)
    assert (ticket.kind, ticket.category, ticket.sla_tier, ticket.priority) == (
        "complaint",
        "noise",
        "normal",
        "normal",
    )
    assert (ticket.unit_text, ticket.description) == (
        "8栋1203室",
        "楼上每天晚上十二点以后还在装修，很吵",
    )
    assert ticket.resolve_by == datetime(
        2026, 11, 23, 21, 0, tzinfo=SHANGHAI
    )  # investigated the same day
    assert (ticket.escalation_level, ticket.escalation_due) == (
        1,
        datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI),
    )
    assert history(app) == [("created", None), ("notified", 1)]
    assert texts_to(app) == [("+8613800138000", "confirmation"), (RECEPTION, "escalation")]


def test_unanswered_complaints_climb_the_three_levels(
    twilio: TwilioFake,
    app: Flask,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    run_due_jobs: Callable[[], int],
) -> None:
    complain(twilio, "2").say("垃圾三天没人清理了")
    run_jobs()
    clock.set(datetime(2026, 11, 23, 11, 59, tzinfo=SHANGHAI))
    assert run_due_jobs() == 0
    clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI))
    assert run_due_jobs() == 1
    assert the_ticket(app).escalation_level == 2
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    assert run_due_jobs() == 1
    assert run_due_jobs() == 0  # the last level schedules nothing more
    ticket = the_ticket(app)
    assert (ticket.escalation_level, ticket.escalation_due) == (3, None)
    assert history(app) == [
        ("created", None),
        ("notified", 1),
        ("escalated", 2),
        ("notified", 2),
        ("escalated", 3),
        ("notified", 3),
    ]
    assert [to for to, purpose in texts_to(app) if purpose == "escalation"] == [
        RECEPTION,
        SUPERVISOR,
        DEPUTY_GM,
    ]


def test_major_complaints_start_higher_and_escalate_faster(
    twilio: TwilioFake,
    app: Flask,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    run_due_jobs: Callable[[], int],
) -> None:
    complain(twilio, "3", sid="CA601").say("车库里我的车被人撬了")  # security: a major complaint
    run_jobs()
    ticket = the_ticket(app)
    assert (ticket.sla_tier, ticket.priority, ticket.escalation_level) == ("major", "high", 2)
    assert ticket.escalation_due == datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    clock.set(datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI))
    run_due_jobs()
    assert the_ticket(app).escalation_level == 3
    assert [to for to, purpose in texts_to(app) if purpose == "escalation"] == [
        SUPERVISOR,
        DEPUTY_GM,
    ]


def test_an_acknowledged_complaint_stops_climbing(
    twilio: TwilioFake,
    app: Flask,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    run_due_jobs: Callable[[], int],
) -> None:
    complain(twilio, "1", sid="CA602").say("前台的态度很差")
    run_jobs()
    with app.app_context(), services().db.session() as session:
        session.scalars(select(Ticket)).one().acknowledged_at = datetime(
            2026, 11, 23, 10, 30, tzinfo=SHANGHAI
        )
    clock.set(datetime(2026, 11, 23, 12, 30, tzinfo=SHANGHAI))
    run_due_jobs()
    assert the_ticket(app).escalation_level == 1
    assert [kind for kind, _ in history(app)] == ["created", "notified"]


def test_escalation_jobs_run_twice_escalate_once(
    twilio: TwilioFake, app: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    from worker.jobs import escalate_complaint, sweep_deadlines

    complain(twilio, "5", sid="CA603").say("车位被别人占了")
    run_jobs()
    ticket_id = the_ticket(app).id
    clock.set(datetime(2026, 11, 23, 12, 1, tzinfo=SHANGHAI))
    with app.app_context():
        assert escalate_complaint(ticket_id) == 2
        assert escalate_complaint(ticket_id) == 2
        sweep_deadlines()
    run_jobs()
    assert [kind for kind, _ in history(app)].count("escalated") == 1
    assert [purpose for _, purpose in texts_to(app)].count("escalation") == 2  # level 1, then 2


def test_a_known_caller_confirms_their_unit_by_keypad(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    with app.app_context(), services().db.session() as session:
        load_demo_estate(session)
    refresh_directory(app)
    walk = Walk(twilio, "CA604").start().press("2")
    assert walk.last_heard == [
        "对不起，给您添麻烦了，我们代表物业公司向您致歉。",
        "请问您是1栋1单元101室的住户吗？确认请按1，不是请按2。",
    ]
    walk.press("1").press("6").say("小区的路灯坏了好几天")
    run_jobs()
    ticket = the_ticket(app)
    assert ticket.unit_text == "1栋1单元101室"
    assert ticket.unit_id is not None
    assert ticket.resident_id is not None


def test_a_caller_who_hangs_up_mid_complaint_leaves_no_half_ticket(
    twilio: TwilioFake, app: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = complain(twilio, "4", sid="CA605")
    walk.hang_up(duration="40")
    run_jobs()
    with app.app_context(), services().db.reader() as session:
        assert session.scalars(select(Ticket)).all() == []
    from tests.api_client import api_get

    call = api_get(app, "/api/calls/CA605")[1]
    assert (call["category"], call["outcome"], call["unit"]) == (
        "complaint",
        "abandoned",
        "8栋1203室",
    )
