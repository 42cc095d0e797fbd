"""The console's tickets: filters, keyset pages, masked numbers, a ticket's deadlines,
escalation and history, bad filters answered 400, and who may open them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from ivr.models import (
    Ticket,
    TicketKind,
    TicketLog,
    TicketPriority,
    TicketStatus,
    Unit,
    User,
)
from ivr.services import services
from tests.console_seed import NOW, add_rows, ticket
from tests.web_client import assert_role_checks, link, rejected_filter, walk_pages

MakeUser = Callable[..., User]
HOUR = timedelta(hours=1)


def listed(html: str) -> list[str]:
    """The ticket numbers of the list's rows, top to bottom."""
    return re.findall(r'<tr id="ticket-\d+" data-number="([^"]+)"', html)


@pytest.fixture
def tickets(app: Flask) -> dict[str, int]:
    """Six tickets, each with something to filter on; returns their ids by number."""
    with app.app_context(), services().db.session() as session:
        unit = Unit(building="3", entrance="2", room="501")
        session.add(unit)
        session.flush()
        session.add_all(
            [
                ticket(
                    "1120001",
                    created_at=NOW - timedelta(days=3),
                    unit_id=unit.id,
                    resolve_by=NOW + 30 * timedelta(minutes=1),
                ),
                ticket(
                    "1121001",
                    kind=TicketKind.COMPLAINT,
                    category="noise",
                    sla_tier="normal",
                    created_at=NOW - timedelta(days=2),
                    caller_number="+8613900139001",
                    escalation_level=2,
                    resolve_by=NOW - 2 * HOUR,
                    breached_at=NOW - 2 * HOUR,
                    unit_text="1栋1单元101室",
                ),
                ticket(
                    "1122001",
                    priority=TicketPriority.EMERGENCY,
                    category="electric",
                    sla_tier="emergency",
                    status=TicketStatus.DISPATCHED,
                    created_at=NOW - timedelta(days=1),
                    caller_number="+8657188880000",
                    on_site_by=NOW + 3 * HOUR,
                    resolve_by=NOW + 20 * HOUR,
                ),
                ticket(
                    "1122002",
                    kind=TicketKind.COMPLAINT,
                    priority=TicketPriority.HIGH,
                    category="security",
                    sla_tier="major",
                    status=TicketStatus.DONE,
                    created_at=NOW - timedelta(days=1) + HOUR,
                    escalation_level=3,
                    resolve_by=NOW - 10 * HOUR,
                    resolved_at=NOW - 12 * HOUR,
                ),
                ticket(
                    "1123001",
                    created_at=NOW - HOUR,
                    caller_number="+8613500135000",
                    resolve_by=NOW + 5 * HOUR,
                ),
                ticket(
                    "1123002",
                    status=TicketStatus.CLOSED,
                    created_at=NOW - HOUR / 2,
                    resolve_by=NOW - HOUR / 4,
                    resolved_at=NOW - HOUR / 3,
                ),
            ]
        )
        session.flush()
        return {t.number: t.id for t in session.query(Ticket)}


# --- the list -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["1123002", "1123001", "1122002", "1122001", "1121001", "1120001"]),
        ("kind=complaint", ["1122002", "1121001"]),
        ("status=dispatched", ["1122001"]),
        ("open=true", ["1123001", "1122001", "1121001", "1120001"]),
        ("open=false", ["1123002", "1122002"]),
        ("priority=emergency", ["1122001"]),
        ("category=noise", ["1121001"]),
        ("sla=breached", ["1121001"]),
        ("sla=at_risk", ["1120001"]),
        ("level=3", ["1122002"]),
        ("level=1&kind=repair", ["1123002", "1123001", "1122001", "1120001"]),
        ("from=2026-11-22&to=2026-11-22", ["1122002", "1122001"]),
        ("from=2026-11-23", ["1123002", "1123001"]),
        ("unit=3栋2单元501室", ["1120001"]),
        ("unit=101室", ["1121001"]),
        ("number=1121001", ["1121001"]),
        ("number=13900139001", ["1121001"]),
        ("number=%2B8613500135000", ["1123001"]),
        ("number=0571-8888-0000", ["1122001"]),
        ("number=5000", ["1123001"]),
        ("number=999", []),
        ("kind=repair&open=true&from=2026-11-22", ["1123001", "1122001"]),
    ],
)
def test_each_filter_narrows_the_list(
    supervisor: FlaskClient, tickets: dict[str, int], query: str, expected: list[str]
) -> None:
    response = supervisor.get(f"/console/tickets?{query}")
    assert response.status_code == 200
    assert listed(response.get_data(as_text=True)) == expected


def test_the_list_shows_masked_numbers_deadlines_and_flags(
    supervisor: FlaskClient, tickets: dict[str, int]
) -> None:
    html = supervisor.get("/console/tickets?kind=complaint").get_data(as_text=True)
    assert "139****9001" in html
    assert "13900139001" not in html
    row = re.search(r'data-number="1121001" data-sla="breached">(.*?)</tr>', html, re.S)
    assert row is not None
    text = " ".join(re.sub(r"<[^>]+>", " ", row.group(1)).split())
    assert text == (
        "1121001 2026-11-21 10:00 投诉单 噪音和邻里 待处理 1栋1单元101室 139****9001"
        " 11-23 08:00 已超时 Breached 2 · 客服主管"
    )


def test_the_filter_form_keeps_what_was_chosen(
    supervisor: FlaskClient, tickets: dict[str, int]
) -> None:
    html = supervisor.get("/console/tickets?kind=complaint&sla=breached&number=9001").get_data(
        as_text=True
    )
    assert '<option value="complaint" selected>' in html
    assert '<option value="breached" selected>' in html
    assert 'id="filter-number" name="number" type="search" inputmode="tel" value="9001"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=invoice", "kind must be one of: repair, complaint"),
        ("status=lost", "status must be one of: open, acknowledged, dispatched"),
        ("priority=urgent", "priority must be one of: emergency, high, normal"),
        ("category=ghosts", "category must be one of: water, electric"),
        ("sla=late", "sla must be one of: breached, at_risk"),
        ("open=maybe", "open must be true or false"),
        ("level=4", "level must be 1, 2 or 3"),
        ("from=last+week", "'last week' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("from=2026-11-23&to=2026-11-20", "'to' must be after 'from'"),
        ("number=abc", "number must be a ticket number, or a phone number"),
        ("unit=" + "x" * 65, "unit may be at most 64 characters"),
        ("older=%25%25", "cursor is not one this API returned"),
    ],
)
def test_a_bad_filter_answers_400_with_the_form_and_the_reason(
    supervisor: FlaskClient, query: str, message: str
) -> None:
    response = supervisor.get(f"/console/tickets?{query}")
    assert rejected_filter(response, "ticket-filters").startswith(message)


@pytest.fixture
def many_tickets(app: Flask) -> list[str]:
    """120 tickets, newest first; pairs share a creation time, so the id breaks the tie."""
    rows = [
        {
            "number": f"11{n:05d}",
            "number_year": 2026,
            "kind": "repair",
            "priority": "normal",
            "category": "water",
            "sla_tier": "small",
            "status": "open",
            "caller_number": "+8613800138000",
            "locale": "zh-CN",
            "description": "",
            "created_at": NOW - timedelta(days=10) + timedelta(minutes=n // 2),
            "escalation_level": 1,
        }
        for n in range(120)
    ]
    with app.app_context(), services().db.session() as session:
        session.execute(insert(Ticket), rows)
    return [f"11{n:05d}" for n in reversed(range(120))]


def test_pages_cover_every_ticket_once_and_come_back(
    supervisor: FlaskClient, many_tickets: list[str]
) -> None:
    pages = list(walk_pages(supervisor, "/console/tickets?kind=repair", "older", listed))
    assert [len(page) for page in pages] == [50, 50, 20]
    assert [number for page in pages for number in page] == many_tickets
    first = supervisor.get("/console/tickets?kind=repair").get_data(as_text=True)
    assert link(first, "page-newer") is None
    second_url = link(first, "page-older") or ""
    assert second_url.startswith("/console/tickets?kind=repair&older=")
    last_url = link(supervisor.get(second_url).get_data(as_text=True), "page-older") or ""
    assert list(walk_pages(supervisor, last_url, "newer", listed)) == list(reversed(pages))
    last = supervisor.get(last_url).get_data(as_text=True)
    assert link(last, "page-newest") == "/console/tickets?kind=repair"


# --- one ticket -----------------------------------------------------------------------------


def test_a_ticket_shows_its_deadlines_escalation_and_history(
    app: Flask, supervisor: FlaskClient, tickets: dict[str, int]
) -> None:
    ticket_id = tickets["1121001"]
    add_rows(
        app,
        TicketLog(
            ticket_id=ticket_id,
            dedupe_key="t:created",
            at=NOW - timedelta(days=2),
            kind="created",
            detail={"number": "1121001", "call_sid": "CA_COMPLAINT"},
        ),
        TicketLog(
            ticket_id=ticket_id,
            dedupe_key="t:escalated:2",
            at=NOW - 3 * HOUR,
            kind="escalated",
            detail={"level": 2, "due": (NOW - 3 * HOUR).isoformat()},
        ),
        TicketLog(
            ticket_id=ticket_id,
            dedupe_key="t:note",
            at=NOW - HOUR,
            kind="desk_note",
            detail={"by": "王丽", "notes": "住户留了新号码 13712345678"},
        ),
    )
    response = supervisor.get(f"/console/tickets/{ticket_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="ticket-sla" role="status"><strong>已超时' in html
    assert re.search(r'id="ticket-caller">139\*\*\*\*9001', html)
    assert "13900139001" not in html
    assert re.findall(r'<tr data-state="(\w+)">', html) == ["missed"]
    assert re.search(r'<li class="current" aria-current="step">2 · 客服主管</li>', html)
    assert re.findall(r'<tr data-kind="(\w+)">', html) == ["created", "escalated", "desk_note"]
    assert "级别：2；时限：11-23 07:00" in html
    assert "备注：住户留了新号码 137****5678" in html
    assert 'href="/console/calls/CA_COMPLAINT"' in html


def test_a_resolved_ticket_kept_its_deadline(
    supervisor: FlaskClient, tickets: dict[str, int]
) -> None:
    html = supervisor.get("/console/tickets/1122002").get_data(as_text=True)
    assert 'data-number="1122002"' in html
    assert re.findall(r'<tr data-state="(\w+)">', html) == ["met"]
    assert 'id="ticket-sla"' not in html


def test_deadlines_still_to_come_are_pending(
    supervisor: FlaskClient, tickets: dict[str, int]
) -> None:
    html = supervisor.get(f"/console/tickets/{tickets['1122001']}").get_data(as_text=True)
    assert re.findall(r'<tr data-state="(\w+)">', html) == ["pending", "pending"]
    assert "到场" in html
    assert "完成" in html


@pytest.mark.parametrize("key", ["999999", "0000000", "nope", "1" * 30])
def test_an_unknown_ticket_is_a_404_page(
    supervisor: FlaskClient, tickets: dict[str, int], key: str
) -> None:
    response = supervisor.get(f"/console/tickets/{key}")
    assert response.status_code == 404
    assert 'id="ticket-missing"' in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/console/tickets", "/console/tickets/1"])
def test_only_supervisors_and_admins_see_tickets(
    client: FlaskClient, make_user: MakeUser, path: str
) -> None:
    assert_role_checks(client, make_user, path)
