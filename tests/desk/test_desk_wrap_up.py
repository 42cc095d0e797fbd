"""The wrap-up after a call taken at the desk: disposition and notes, a new ticket through
the IVR's own numbering and deadlines, a note on (or the resolution of) an open ticket,
a promised callback; idempotent on a double submit, never a 500 on bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import (
    Availability,
    Callback,
    OutboundMessage,
    Resident,
    Ticket,
    TicketLog,
    TicketStatus,
    User,
    WrapUp,
)
from ivr.outbound.telephony import RecordingHttpClient
from ivr.services import services
from ivr.tickets.lifecycle import open_ticket
from tests.conftest import SHANGHAI
from tests.desk.test_desk import (
    ZHANG,
    ZHAO_PHONE,
    add_residents,
    agent,
    availability_of,
    bridge_path,
    desk_page,
    dial_action,
    problem_in,
    take,
    waits_in_general_queue,
)
from tests.records import stored
from tests.twilio_fake import TwilioFake
from tests.web_client import page_token

MakeUser = Callable[..., User]
RunJobs = Callable[[], int]
WRAP_UP = "/desk/calls/CA800/wrap-up"


@pytest.fixture
def answered(
    app: Flask,
    twilio: TwilioFake,
    make_user: MakeUser,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> tuple[FlaskClient, int]:
    """王丽 took 张伟's call CA800 and talked to him; the call has ended."""
    add_residents(app)
    waits_in_general_queue(twilio, "CA800")
    run_jobs()
    client, wang = agent(app, make_user)
    assert take(client, "CA800")[0] == 303
    verbs = twilio.follow(bridge_path(twilio_rest), "CA800")
    twilio.follow(dial_action(verbs), "CA800", DialCallStatus="completed")
    run_jobs()
    return client, wang


def submit_wrap_up(client: FlaskClient, **fields: str) -> tuple[int, str]:
    token = page_token(client, WRAP_UP)
    response = client.post(WRAP_UP, data={"csrf_token": token, **fields})
    return response.status_code, response.get_data(as_text=True)


def earlier_ticket(app: Flask, clock: FrozenClock) -> int:
    """An open repair order 张伟 reported last week."""
    detail = {
        "kind": "repair",
        "number": "1116004",
        "cat": "doors",
        "caller": ZHANG,
        "locale": "zh-CN",
        "ul": "1栋1单元101室",
    }
    event = CallEvent(
        "CA790", EventKind.TICKET_OPENED, clock.now() - timedelta(days=7), detail=detail
    )
    with app.app_context(), services().db.session() as session:
        found = services()
        open_ticket(session, event, found.settings, found.engine.catalogues)
    [ticket] = stored(app, Ticket, call_sid="CA790")
    return ticket.id


def test_the_form_shows_the_call_and_the_callers_open_tickets(
    app: Flask, answered: tuple[FlaskClient, int], clock: FrozenClock
) -> None:
    client, _ = answered
    earlier_ticket(app, clock)
    page = desk_page(client, WRAP_UP)
    assert '<dd id="wrap-up-caller">张伟 · +8613800138000</dd>' in page
    assert '<dd id="wrap-up-unit">1栋1单元101室</dd>' in page
    assert "main_menu: pressed 0 -&gt; person" in page
    assert "报修单 1116004 · 待处理" in page
    assert 'name="disposition" value="repair_order"' in page


def test_a_repair_order_from_the_wrap_up_gets_a_number_deadlines_and_an_sms(
    app: Flask,
    answered: tuple[FlaskClient, int],
    clock: FrozenClock,
    run_jobs: RunJobs,
) -> None:
    client, wang = answered
    form = {
        "disposition": "repair_order",
        "notes": "厨房水管漏水，已约今天下午上门",
        "ticket_action": "create",
        "ticket_kind": "repair",
        "category": "water",
        "description": "厨房水管漏水",
    }

    status, _ = submit_wrap_up(client, **form)

    assert status == 303
    [ticket] = stored(app, Ticket)
    assert (ticket.number, ticket.kind, ticket.category, ticket.sla_tier) == (
        "1123001",
        "repair",
        "water",
        "major",
    )
    assert (ticket.caller_number, ticket.unit_text, ticket.description) == (
        ZHANG,
        "1栋1单元101室",
        "厨房水管漏水",
    )
    assert ticket.on_site_by == clock.now() + timedelta(hours=4)  # R5
    [zhang] = stored(app, Resident, phone=ZHANG)
    assert (ticket.resident_id, ticket.unit_id) == (zhang.id, zhang.unit_id)
    [wrap_up] = stored(app, WrapUp)
    assert (wrap_up.call_sid, wrap_up.agent_id, wrap_up.disposition) == (
        "CA800",
        wang,
        "repair_order",
    )
    assert (wrap_up.notes, wrap_up.ticket_id, wrap_up.callback_id) == (
        form["notes"],
        ticket.id,
        None,
    )
    run_jobs()
    [sms] = stored(app, OutboundMessage)
    assert (sms.to_number, sms.status) == (ZHANG, "sent")
    assert "1123001" in sms.body
    assert availability_of(app, wang) == Availability.AVAILABLE  # free for the next caller
    desk = desk_page(client)
    assert '<tr data-call-sid="CA800" data-disposition="repair_order">' in desk
    assert 'id="my-take"' not in desk

    # Submitted again (a double click, or a correction): one wrap-up, one ticket, one SMS.
    clock.advance(minutes=2)
    status, _ = submit_wrap_up(client, **(form | {"notes": "已约今天下午两点上门"}))
    assert status == 303
    run_jobs()
    assert len(stored(app, Ticket)) == 1
    assert len(stored(app, OutboundMessage)) == 1
    [wrap_up] = stored(app, WrapUp)
    assert (wrap_up.notes, wrap_up.updated_at) == ("已约今天下午两点上门", clock.now())


def test_a_complaint_from_the_wrap_up_starts_its_escalation_clock(
    app: Flask, answered: tuple[FlaskClient, int], clock: FrozenClock
) -> None:
    client, _ = answered
    status, _ = submit_wrap_up(
        client,
        disposition="complaint",
        ticket_action="create",
        ticket_kind="complaint",
        category="noise",
        description="楼上夜间装修噪音",
    )
    assert status == 303
    [ticket] = stored(app, Ticket)
    assert (ticket.kind, ticket.escalation_level) == ("complaint", 1)
    assert ticket.escalation_due == clock.now() + timedelta(hours=2)  # R6: 接待人, then up
    assert [entry.kind for entry in stored(app, TicketLog)][:1] == ["created"]


def test_the_wrap_up_notes_on_and_resolves_an_open_ticket_once(
    app: Flask, answered: tuple[FlaskClient, int], clock: FrozenClock
) -> None:
    client, _ = answered
    ticket_id = earlier_ticket(app, clock)
    form = {
        "disposition": "resolved",
        "notes": "住户确认门锁已修好",
        "ticket_action": "update",
        "ticket_id": str(ticket_id),
        "resolve": "1",
    }
    for _ in range(2):  # the same form twice
        status, _ = submit_wrap_up(client, **form)
        assert status == 303

    [ticket] = stored(app, Ticket)
    assert (ticket.status, ticket.resolved_at) == (TicketStatus.DONE, clock.now())
    assert ticket.return_visit_due == clock.now() + timedelta(hours=24)
    notes = [
        (e.kind, e.detail)
        for e in stored(app, TicketLog, ticket_id=ticket_id)
        if e.kind != "created"
    ]
    assert notes == [
        ("desk_note", {"by": "王丽", "notes": "住户确认门锁已修好", "call_sid": "CA800"}),
        ("resolved", {"by": "王丽"}),
    ]
    [wrap_up] = stored(app, WrapUp)
    assert wrap_up.ticket_id == ticket_id


def test_a_promised_callback_belongs_to_the_agent(
    app: Flask, answered: tuple[FlaskClient, int], clock: FrozenClock
) -> None:
    client, wang = answered
    status, _ = submit_wrap_up(
        client, disposition="callback_needed", callback_due="2026-11-23T15:30"
    )
    assert status == 303
    [callback] = stored(app, Callback)
    assert (callback.phone, callback.reason, callback.owner_id, callback.status) == (
        ZHANG,
        "callback promised by 王丽",
        wang,
        "pending",
    )
    assert callback.due_at == datetime(2026, 11, 23, 15, 30, tzinfo=SHANGHAI)
    assert (callback.claimed_at, callback.queue, callback.call_sid) == (
        clock.now(),
        "general",
        "CA800",
    )
    assert f'data-callback-id="{callback.id}"' in desk_page(client)  # under my callbacks

    # Without a time: when the office next opens (now, in office hours). Still one callback.
    submit_wrap_up(client, disposition="callback_needed", callback_due="")
    [callback] = stored(app, Callback)
    assert callback.due_at == clock.now()
    # A later wrap-up that no longer needs it withdraws the promise.
    submit_wrap_up(client, disposition="resolved")
    [callback] = stored(app, Callback)
    assert callback.status == "cancelled"
    [wrap_up] = stored(app, WrapUp)
    assert (wrap_up.disposition, wrap_up.callback_id) == ("resolved", None)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({}, "disposition", "请选择处理结果 · Choose how the call ended"),
        ({"disposition": "sorted"}, "disposition", "请选择处理结果 · Choose how the call ended"),
        ({"disposition": "repair_order"}, "ticket", "请新建或选择报修单 · a repair order"),
        (
            {
                "disposition": "complaint",
                "ticket_action": "create",
                "ticket_kind": "repair",
                "category": "water",
                "description": "x",
            },
            "ticket",
            "请新建或选择投诉单 · a complaint",
        ),
        (
            {
                "disposition": "repair_order",
                "ticket_action": "create",
                "ticket_kind": "repair",
                "category": "noise",
                "description": "x",
            },
            "category",
            "请选择工单类别 · Choose a category",
        ),
        (
            {
                "disposition": "repair_order",
                "ticket_action": "create",
                "ticket_kind": "repair",
                "category": "water",
            },
            "description",
            "请填写问题描述（最多1000字） · Describe the problem (up to 1000 characters)",
        ),
        (
            {"disposition": "resolved", "ticket_action": "update", "ticket_id": "999"},
            "ticket",
            "请选择来电人的未完成工单 · Pick one of the caller's open tickets",
        ),
        (
            {"disposition": "resolved", "ticket_action": "delete"},
            "ticket",
            "工单操作无效 · Unknown ticket action",
        ),
        (
            {"disposition": "callback_needed", "callback_due": "tomorrow"},
            "callback_due",
            "回电时间格式不正确 · The callback time is not a date and time",
        ),
        (
            {"disposition": "callback_needed", "callback_due": "2026-11-22T09:00"},
            "callback_due",
            "回电时间须在今后30天内 · Choose a time in the next 30 days",
        ),
        (
            {"disposition": "resolved", "notes": "很" * 2001},
            "notes",
            "备注最多2000字 · Notes are limited to 2000 characters",
        ),
    ],
)
def test_a_wrong_form_comes_back_with_what_is_wrong_and_saves_nothing(
    app: Flask, answered: tuple[FlaskClient, int], form: dict[str, str], field: str, message: str
) -> None:
    client, _ = answered
    status, html = submit_wrap_up(client, **form)
    assert status == 422
    assert (
        f'<p class="error field-problem" id="problem-{field}" role="alert">{escape(message)!s}</p>'
        in html
    )
    assert 'id="wrap-up-form"' in html
    assert stored(app, WrapUp) == []
    assert stored(app, Ticket) == []
    assert stored(app, Callback) == []


def test_only_the_agent_who_took_the_call_wraps_it_up(
    app: Flask, answered: tuple[FlaskClient, int], make_user: MakeUser
) -> None:
    zhao_client, _ = agent(app, make_user, "zhaoqiang", "赵强", ZHAO_PHONE)
    assert zhao_client.get(WRAP_UP).status_code == 403
    assert zhao_client.get("/desk/calls/CA404/wrap-up").status_code == 404

    # Submitted anyway (from a stale page): back to the desk, which says why.
    token = page_token(zhao_client, "/desk/")
    for path, why in (
        (WRAP_UP, "该来电不是由您接听的，无法填写处理结果。"),
        ("/desk/calls/CA404/wrap-up", "找不到该来电。 · There is no such call."),
    ):
        response = zhao_client.post(path, data={"csrf_token": token, "disposition": "resolved"})
        assert (response.status_code, response.location) == (303, "/desk/")
        assert why in problem_in(desk_page(zhao_client))
    assert stored(app, WrapUp) == []


def test_the_wrap_up_needs_the_csrf_token(app: Flask, answered: tuple[FlaskClient, int]) -> None:
    client, _ = answered
    assert client.post(WRAP_UP, data={"disposition": "resolved"}).status_code == 400
    assert stored(app, WrapUp) == []
