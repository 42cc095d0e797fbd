"""The console's live board: calls on the line, queues, staff, callbacks and tickets falling
due, masked numbers, the fragment the page polls, and who may open it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import (
    Availability,
    Callback,
    CallbackStatus,
    StaffRole,
    TicketStatus,
    User,
)
from ivr.services import services
from tests.call_walk import Walk
from tests.console_seed import NOW, add_rows, ticket
from tests.twilio_fake import TwilioFake
from tests.web_client import assert_role_checks, log_in, page_html

MakeUser = Callable[..., User]
HOTLINE = "+8657112345678"


def record(app: Flask, *events: CallEvent) -> None:
    """Events through the real call-log path, as the worker writes them."""
    with app.app_context(), services().db.session() as session:
        record_events(session, list(events))


def call_events(
    sid: str, at: datetime, caller: str, *steps: tuple[EventKind, dict[str, Any]]
) -> list[CallEvent]:
    kinds = [(EventKind.CALL_STARTED, {"from": caller, "to": HOTLINE}), *steps]
    return [
        CallEvent(sid, kind, at + timedelta(seconds=seq), seq=seq, node=f"step{seq}", detail=d)
        for seq, (kind, d) in enumerate(kinds)
    ]


def callback(key: str, due: datetime, **fields: Any) -> Callback:
    values: dict[str, Any] = {
        "dedupe_key": key,
        "phone": "+8613700137000",
        "reason": "message",
        "due_at": due,
        "status": CallbackStatus.PENDING,
        "created_at": NOW - timedelta(hours=5),
    }
    return Callback(**(values | fields))


# --- reading the board ----------------------------------------------------------------------


def rows_of(html: str, table_id: str) -> list[str]:
    """The `data-…` identity of each row of one table, top to bottom."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.DOTALL)
    if found is None:
        return []
    return re.findall(r'<tr (?:id="[^"]*" )?data-[\w-]+="([^"]*)"', found.group(0))


def queue_lengths(html: str) -> dict[str, int]:
    return {
        name: int(count)
        for name, count in re.findall(r'data-queue="([^"]+)" data-waiting="(\d+)"', html)
    }


def tile(html: str, name: str) -> int:
    found = re.search(rf'id="tile-{name}"><span class="tile-value">(\d+)</span>', html)
    assert found, f"no tile {name}"
    return int(found.group(1))


def board(client: FlaskClient) -> str:
    return page_html(client, "/console/board")


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/board", "/console/board/live"])
def test_only_supervisors_and_admins_see_the_board(
    client: FlaskClient, make_user: MakeUser, path: str
) -> None:
    assert_role_checks(client, make_user, path)


def test_an_admin_sees_the_board_too(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("boss", role=StaffRole.ADMIN)
    log_in(client, "boss")
    assert client.get("/console/board").status_code == 200


def test_a_quiet_hotline_shows_every_queue_empty(supervisor: FlaskClient) -> None:
    html = board(supervisor)
    assert queue_lengths(html) == {"emergency": 0, "inquiry": 0, "general": 0}
    assert 'id="no-live-calls"' in html
    assert 'id="no-due-callbacks"' in html
    assert 'id="no-tickets-at-risk"' in html
    assert [tile(html, name) for name in ("ivr", "queue", "agent", "callbacks", "tickets")] == [
        0,
        0,
        0,
        0,
        0,
    ]
    assert 'src="/static/live.js"' in html
    assert 'data-live-url="/console/board/live"' in html


def test_a_caller_waiting_for_a_person_is_in_the_queue_with_their_wait(
    app: Flask,
    supervisor: FlaskClient,
    twilio: TwilioFake,
    run_jobs: Callable[[], int],
    clock: FrozenClock,
) -> None:
    """Through the webhooks and the worker, as a real call gets there."""
    Walk(twilio, "CA" + "1" * 32, caller="+8613800138000").start().press("0")
    run_jobs()
    clock.advance(seconds=95)

    html = board(supervisor)
    assert queue_lengths(html)["general"] == 1
    assert re.search(
        r'id="queue-general".*?<time class="waited-time"[^>]*>1:3\d</time>', html, re.S
    )
    assert rows_of(html, "live-calls") == ["CA" + "1" * 32]
    assert 'data-stage="queue"' in html
    assert "138****8000" in html
    assert "13800138000" not in html


def test_calls_are_placed_by_where_they_are_and_stale_ones_left_out(
    app: Flask, supervisor: FlaskClient, make_user: MakeUser
) -> None:
    alice = make_user("alice", display_name="王丽", phone="+8613900139111")
    record(
        app,
        *call_events("CA_MENU", NOW - timedelta(minutes=1), "+8613800138000"),
        *call_events(
            "CA_WAIT",
            NOW - timedelta(minutes=3),
            "+8613900139001",
            (EventKind.HANDOFF, {"queue": "emergency"}),
        ),
        *call_events(
            "CA_AGENT",
            NOW - timedelta(minutes=5),
            "+8613700137002",
            (EventKind.HANDOFF, {"queue": "general"}),
            (EventKind.DESK_BRIDGE, {"agent": "王丽", "agent_id": alice.id}),
        ),
        *call_events(
            "CA_DONE",
            NOW - timedelta(minutes=8),
            "+8613600136003",
            (EventKind.STATUS, {"status": "completed", "duration_s": 30}),
        ),
        # Twilio ends calls after four hours: this one lost its last status callback.
        *call_events("CA_STALE", NOW - timedelta(hours=5), "+8613500135004"),
    )
    html = board(supervisor)
    assert rows_of(html, "live-calls") == ["CA_AGENT", "CA_WAIT", "CA_MENU"]
    assert re.findall(r'data-call-sid="[^"]+" data-stage="(\w+)"', html) == [
        "agent",
        "queue",
        "ivr",
    ]
    assert (tile(html, "ivr"), tile(html, "queue"), tile(html, "agent")) == (1, 1, 1)
    assert queue_lengths(html)["emergency"] == 1
    assert re.search(r"王丽</strong>\s*<span class=\"state\">", html)
    assert re.search(r'class="staff staff-away staff-on-call"', html)
    assert "通话中" in html


def test_staff_on_the_board_are_agents_and_anyone_taking_calls(
    app: Flask, supervisor: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice", display_name="王丽")
    make_user("carol", display_name="陈静")
    make_user("duty", role=StaffRole.SUPERVISOR, display_name="赵主管")
    make_user("admin", role=StaffRole.ADMIN, display_name="管理员")
    with app.app_context(), services().db.session() as session:
        for user in session.query(User):
            if user.username in {"carol", "duty"}:
                user.availability = Availability.AVAILABLE
    html = board(supervisor)
    names = re.findall(r'<li class="staff [^"]*">\s*<strong>([^<]+)</strong>', html)
    assert names == ["赵主管", "陈静", "王丽"]  # available first, then away; the admin is away


def test_callbacks_due_within_the_hour_soonest_first_with_the_late_ones_counted(
    app: Flask, supervisor: FlaskClient
) -> None:
    add_rows(
        app,
        callback("late", NOW - timedelta(minutes=20)),
        callback("soon", NOW + timedelta(minutes=30), phone="+8613900139222"),
        callback("later", NOW + timedelta(hours=2)),
        callback("done", NOW - timedelta(hours=1), status=CallbackStatus.DONE),
    )
    html = board(supervisor)
    with app.app_context(), services().db.reader() as session:
        ids = {c.dedupe_key: c.id for c in session.query(Callback)}
    assert rows_of(html, "due-callbacks") == [str(ids["late"]), str(ids["soon"])]
    assert tile(html, "callbacks") == 2
    assert 'id="callbacks-overdue">1 个已逾期' in html
    assert "137****7000" in html
    assert "139****9222" in html
    assert "13700137000" not in html


def test_tickets_about_to_breach_soonest_deadline_first(
    app: Flask, supervisor: FlaskClient
) -> None:
    add_rows(
        app,
        ticket("1123001", resolve_by=NOW + timedelta(minutes=50)),
        ticket(
            "1123002",
            on_site_by=NOW + timedelta(minutes=10),
            resolve_by=NOW + timedelta(hours=20),
        ),
        # On site already: only the resolve-by deadline counts, and it is far off.
        ticket(
            "1123003",
            status=TicketStatus.ON_SITE,
            on_site_by=NOW + timedelta(minutes=10),
            resolve_by=NOW + timedelta(hours=20),
        ),
        ticket("1123004", resolve_by=NOW + timedelta(hours=3)),
        ticket(
            "1123005", resolve_by=NOW - timedelta(hours=1), breached_at=NOW - timedelta(hours=1)
        ),
        ticket(
            "1123006",
            status=TicketStatus.DONE,
            resolve_by=NOW + timedelta(minutes=5),
        ),
    )
    html = board(supervisor)
    assert rows_of(html, "tickets-at-risk") == ["1123002", "1123001"]
    assert tile(html, "tickets") == 2
    assert 'id="breached-open-link" href="/console/tickets?sla=breached&amp;open=true"' in html
    assert "已超时仍未完成：1 张" in html


def test_the_fragment_is_the_changing_part_only(app: Flask, supervisor: FlaskClient) -> None:
    record(app, *call_events("CA_MENU", NOW - timedelta(minutes=1), "+8613800138000"))
    response = supervisor.get("/console/board/live")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="board" data-now="2026-11-23T10:00:00+08:00">')
    assert "<html" not in html
    assert rows_of(html, "live-calls") == ["CA_MENU"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_board_is_in_the_console_navigation(supervisor: FlaskClient) -> None:
    html = supervisor.get("/console/").get_data(as_text=True)
    assert 'id="nav-board" href="/console/board"' in html
