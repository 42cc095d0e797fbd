"""A repair order after the call: dispatched to a technician (who gets the order by SMS with
a signed link), on site, done with a note and a fee, the resident texted at each step, the
return visit promised, and closed; reassigned, sent back, cancelled and reopened; a
complaint investigated and answered. Driven through POST /api/tickets/<key>/transitions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.core.clock import FrozenClock
from ivr.models import (
    CallbackStatus,
    Ticket,
    TicketStatus,
    User,
)
from ivr.tickets.field_links import read_field_token
from ivr.tickets.lifecycle import flag_service_levels, note_return_visit
from tests.api_client import api_get, api_post
from tests.conftest import BASE_URL, SHANGHAI, services_of
from tests.work_orders import (
    ELECTRICIAN,
    PLUMBER,
    RESIDENT,
    SUPERVISORS,
    TOMORROW_AM,
    hire_crew,
    history,
    move,
    report,
    stamp,
    surveys,
    texts_to,
    the_ticket,
)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


@pytest.fixture
def crew(make_user: Callable[..., User]) -> dict[str, User]:
    return hire_crew(make_user)


def test_a_repair_goes_from_the_call_to_the_archive(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    status, body = move(app, number, to="acknowledged", by="李主管")
    assert (status, body["status"], body["next_steps"]) == (
        200,
        "acknowledged",
        ["dispatched", "cancelled"],
    )

    clock.advance(minutes=10)
    status, body = move(app, number, to="dispatched", by="李主管")
    # Nobody named: the default technician of the order's trade (water: 张师傅).
    assert (status, body["status"], body["technician"]) == (200, "dispatched", "laozhang")
    assert body["dispatched_at"] == stamp(clock)
    order = texts_to(app, PLUMBER)
    assert len(order) == 1
    assert "派工单1123001：3栋2单元501室，水管漏水或堵塞。厨房水龙头一直滴水，关不紧。" in order[0]
    assert "上门时间：11月24日上午9:00–12:00。住户电话+8613800138000。" in order[0]
    link = order[0].rsplit("：", 1)[1]
    assert link.startswith(f"{BASE_URL}/field/")
    granted = read_field_token(services_of(app).settings, link.rsplit("/", 1)[1], clock.now())
    assert granted is not None
    assert granted.technician_id == crew["laozhang"].id
    told = texts_to(app, RESIDENT)
    assert told[-1] == (
        "【幸福家园物业】您的报修单1123001已派工，维修人员张师傅将于11月24日上午9:00–12:00上门。"
        "如需改约请致电+8657112345678。"
    )

    clock.set(datetime(2026, 11, 24, 9, 40, tzinfo=SHANGHAI))
    status, body = move(app, number, to="on_site", by="张师傅")
    assert (status, body["on_site_at"]) == (200, stamp(clock))

    clock.advance(minutes=50)
    status, body = move(
        app, number, to="done", by="张师傅", note="换了阀芯", materials="阀芯1个", fee="35"
    )
    assert (status, body["status"], body["fee"], body["work_note"]) == (
        200,
        "done",
        "35.00",
        "换了阀芯",
    )
    assert body["resolved_at"] == stamp(clock)
    assert texts_to(app, RESIDENT)[-1].startswith("【幸福家园物业】您的报修单1123001已维修完成。")
    assert surveys(app) == [(CallbackStatus.PENDING, clock.now() + timedelta(hours=24))]

    status, body = move(app, number, to="closed", by="李主管")
    assert (status, body["status"], body["closed_at"]) == (200, "closed", stamp(clock))
    assert history(body) == [
        "created",
        "acknowledged",
        "dispatched",
        "on_site",
        "resolved",
        "closed",
    ]
    done = body["log"][4]["detail"]
    assert done == {"by": "张师傅", "notes": "换了阀芯", "materials": "阀芯1个", "fee": "35.00"}


def test_a_step_the_status_does_not_allow_is_a_conflict(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    status, body = move(app, number, to="done")
    assert status == 409
    assert body == {"error": "a repair that is open cannot move to done"}
    status, body = move(app, number, to="answered")
    assert status == 409
    assert the_ticket(app).status == TicketStatus.OPEN


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": "cancelled"}, "say why (cancelled needs a note)"),
        ({"to": "flying"}, "unknown status 'flying'"),
        ({"to": "dispatched", "technician": "nobody"}, "no technician 'nobody'"),
        (
            {"to": "done", "fee": "lots"},
            "the fee 'lots' is not an amount in yuan, e.g. 50 or 80.50",
        ),
        ({"note": "where to?"}, 'say where the ticket goes: {"to": "dispatched"}'),
        ({"to": ["dispatched"]}, "to must be a string"),
    ],
)
def test_a_step_missing_what_it_needs_is_refused_and_changes_nothing(
    app: Flask, clock: FrozenClock, crew: dict[str, User], body: dict[str, Any], error: str
) -> None:
    number = report(app, clock)
    status, answer = api_post(app, f"/api/tickets/{number}/transitions", body)
    assert status == 422
    assert answer["error"].startswith(error)
    assert the_ticket(app).status == TicketStatus.OPEN


def test_odd_requests_get_a_clear_answer(app: Flask, clock: FrozenClock) -> None:
    number = report(app, clock)
    status, body = api_post(app, "/api/tickets/9999999/transitions", {"to": "acknowledged"})
    assert (status, body) == (404, {"error": "no ticket 9999999"})
    status, body = api_post(app, f"/api/tickets/{number}/transitions", ["acknowledged"])
    assert status == 400
    status, body = api_post(
        app, f"/api/tickets/{number}/transitions", {"to": "acknowledged"}, token="wrong"
    )
    assert status == 401
    response = app.test_client().post(
        f"/api/tickets/{number}/transitions",
        data="to=acknowledged",
        headers={"Authorization": "Bearer test-api-token"},
    )
    assert response.status_code == 400


def test_nobody_to_dispatch_to_is_said(app: Flask, clock: FrozenClock) -> None:
    number = report(app, clock)
    status, body = move(app, number, to="dispatched")
    assert status == 422
    assert body["error"].startswith("no technician to dispatch to")


def test_the_same_step_asked_twice_texts_nobody_twice(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    first = move(app, number, to="dispatched", technician="laozhang")
    clock.advance(seconds=5)
    again = move(app, number, to="dispatched", technician="LaoZhang")
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert len(texts_to(app, PLUMBER)) == 1
    assert history(again[1]) == ["created", "dispatched"]


def test_reassigning_tells_the_new_technician_and_the_old_link_stops_working(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    move(app, number, to="dispatched")
    clock.advance(minutes=30)
    status, body = move(app, number, to="dispatched", technician="xiaoli", note="张师傅请假")
    assert (status, body["technician"], body["technician_name"]) == (200, "xiaoli", "李师傅")
    assert body["log"][-1]["kind"] == "reassigned"
    assert body["log"][-1]["detail"] == {
        "by": "API",
        "technician": "李师傅",
        "before": "张师傅",
        "notes": "张师傅请假",
    }
    assert len(texts_to(app, ELECTRICIAN)) == 1
    # The resident hears about the new technician too.
    assert "维修人员李师傅" in texts_to(app, RESIDENT)[-1]


def test_cannot_finish_goes_back_to_the_dispatcher(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    move(app, number, to="dispatched")
    move(app, number, to="on_site")
    status, body = move(app, number, to="acknowledged")
    assert status == 422  # a reason is needed
    status, body = move(app, number, to="acknowledged", note="需要更换整个水槽，要业主买配件")
    assert (status, body["status"], body["technician"]) == (200, "acknowledged", None)
    assert body["log"][-1]["kind"] == "returned"
    assert texts_to(app, SUPERVISORS[1])[-1] == (
        "【幸福家园物业】报修单1123001（3栋2单元501室）维修人员张师傅无法完成："
        "需要更换整个水槽，要业主买配件。请重新派工。"
    )


def test_a_cancelled_order_owes_no_return_visit_and_can_be_reopened(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    move(app, number, to="dispatched")
    move(app, number, to="done", note="修好了")
    assert [status for status, _ in surveys(app)] == [CallbackStatus.PENDING]
    status, body = move(app, number, to="open", note="住户说还在滴水")
    assert (status, body["status"], body["resolved_at"], body["dispatched_at"]) == (
        200,
        "open",
        None,
        None,
    )
    assert [status for status, _ in surveys(app)] == [CallbackStatus.CANCELLED]
    status, body = move(app, number, to="cancelled", note="住户自己找人修了")
    assert (status, body["status"]) == (200, "cancelled")
    assert body["log"][-1]["detail"] == {"by": "API", "reason": "住户自己找人修了"}
    assert move(app, number, to="dispatched")[0] == 409


def test_the_on_site_promise_is_kept_by_the_arrival_not_the_status(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock, category="electric")  # major: on site by the visit's end
    move(app, number, to="dispatched")
    clock.set(TOMORROW_AM[0] + timedelta(hours=1))
    move(app, number, to="on_site")
    found = services_of(app)
    with found.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        late = TOMORROW_AM[1] + timedelta(minutes=30)
        flag_service_levels(session, ticket, late, found.settings, found.engine.catalogues)
        # Arrived in time: only the resolve-by deadline (later that day) is left to run.
        assert ticket.breached_at is None


def test_a_satisfied_return_visit_archives_the_order_and_a_dissatisfied_one_reopens_it(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    number = report(app, clock)
    move(app, number, to="dispatched")
    move(app, number, to="done", note="换了阀芯")
    found = services_of(app)
    with found.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        note_return_visit(
            session, ticket, 1, 1, clock.now(), found.settings, found.engine.catalogues
        )
        assert (ticket.status, ticket.closed_at) == (TicketStatus.CLOSED, clock.now())
    _, body = api_get(app, f"/api/tickets/{number}")
    assert body["log"][-1]["detail"] == {"by": "回访", "satisfaction": "satisfied"}

    move(app, number, to="open", note="又漏了")
    move(app, number, to="dispatched")
    clock.advance(hours=1)
    move(app, number, to="done", note="换了整个龙头")
    with found.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        note_return_visit(
            session, ticket, 2, 3, clock.now(), found.settings, found.engine.catalogues
        )
        assert ticket.status == TicketStatus.OPEN


def test_a_complaint_is_investigated_and_answered(app: Flask, clock: FrozenClock) -> None:
    number = report(app, clock, kind="complaint", category="security")
    status, body = move(app, number, to="dispatched")
    assert status == 409
    status, body = move(app, number, to="investigated", note="调了监控，属实")
    assert (status, body["investigated_at"], body["acknowledged_at"]) == (
        200,
        stamp(clock),
        stamp(clock),
    )
    status, body = move(app, number, to="answered", note="已向住户道歉，保安已处理")
    assert (status, body["status"], body["next_steps"]) == (200, "answered", ["closed", "open"])
    assert surveys(app) != []
