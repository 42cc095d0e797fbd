"""The supervisor console in a real headless chromium: the call log's filters and a call's
detail, the KPI charts, the live board updating by itself, the tickets' filters and the
monthly report's downloads. Each page leaves a screenshot in the test artifacts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import DeadLetter, StaffRole, Ticket, TicketKind, TicketPriority, TicketStatus
from ivr.reporting.monthly import build_report, reports_dir
from ivr.services import services
from tests.browser.conftest import PageLog, Screenshot, SignIn
from tests.conftest import SHANGHAI
from tests.console_seed import add_rows
from tests.reporting.test_kpi import local, seed_month

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
HOTLINE = "+8657112345678"
POLL_TIMEOUT_MS = 10_000  # the board asks every 3 s


def record_call(app: Flask, sid: str, at: datetime, caller: str, *steps: Any) -> None:
    """One call's events through the real call-log path, as the worker writes them."""
    kinds = [(EventKind.CALL_STARTED, {"from": caller, "to": HOTLINE}), *steps]
    events = [
        CallEvent(sid, kind, at + timedelta(seconds=n), seq=n, node=f"step{n}", detail=detail)
        for n, (kind, detail) in enumerate(kinds)
    ]
    with app.app_context(), services().db.session() as session:
        record_events(session, events)


def ended(*steps: Any) -> list[Any]:
    return [*steps, (EventKind.STATUS, {"status": "completed", "duration_s": 70})]


def add_tickets(app: Flask) -> None:
    def ticket(number: str, kind: TicketKind, **fields: Any) -> Ticket:
        values: dict[str, Any] = {
            "number": number,
            "number_year": 2026,
            "kind": kind,
            "priority": TicketPriority.NORMAL,
            "category": "water" if kind == TicketKind.REPAIR else "noise",
            "sla_tier": "small" if kind == TicketKind.REPAIR else "normal",
            "status": TicketStatus.OPEN,
            "caller_number": "+8613800138000",
            "created_at": NOW - timedelta(hours=2),
            "escalation_level": 1,
            "resolve_by": NOW + timedelta(hours=6),
        }
        return Ticket(**(values | fields))

    with app.app_context(), services().db.session() as session:
        session.add_all(
            [
                ticket("1123001", TicketKind.REPAIR),
                ticket("1123002", TicketKind.COMPLAINT, escalation_level=2),
                ticket("1123003", TicketKind.REPAIR, resolve_by=NOW + timedelta(minutes=30)),
            ]
        )


def test_filtering_the_call_log_and_opening_a_call(
    app: Flask, page: Page, sign_in: SignIn, screenshot: Screenshot, page_log: PageLog
) -> None:
    record_call(
        app, "CA_REPAIR", NOW - timedelta(hours=2), "+8613800138000",
        *ended((EventKind.ROUTED, {"category": "repair"}), (EventKind.CLOSED_BY_IVR, {})),
    )  # fmt: skip
    record_call(
        app, "CA_COMPLAINT", NOW - timedelta(hours=1), "+8613900139001",
        *ended((EventKind.ROUTED, {"category": "complaint"}), (EventKind.CLOSED_BY_IVR, {})),
    )  # fmt: skip
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-call-log").click()
    expect(page.locator("#call-log tbody tr")).to_have_count(2)
    expect(page.locator("#call-log")).to_contain_text("139****9001")
    screenshot("calls")

    page.locator("#filter-category").select_option("complaint")
    page.locator("#filter-apply").click()
    expect(page).to_have_url(re.compile(r"/console/calls\?.*category=complaint"))
    expect(page.locator("#call-log tbody tr")).to_have_count(1)
    expect(page.locator("#filter-category")).to_have_value("complaint")
    screenshot("calls-filtered")

    page.locator("#open-CA_COMPLAINT").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("通话详情")
    expect(page.locator("#call-caller")).to_have_text("+8613900139001")
    assert page_log.console_errors == []


def test_the_kpi_charts_render_with_their_styles(
    app: Flask,
    page: Page,
    sign_in: SignIn,
    clock: FrozenClock,
    screenshot: Screenshot,
    page_log: PageLog,
) -> None:
    with app.app_context(), services().db.session() as session:
        seed_month(session)
    clock.set(local(12, 5, 10))
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-kpis").click()
    page.locator("#period-month").fill("2026-11")
    page.locator("#month-apply").click()
    expect(page.locator("#kpi-period")).to_have_text("2026-11")

    for name in ("per-day", "per-hour", "categories", "outcomes", "escalations"):
        chart = page.locator(f"svg#chart-{name}")
        expect(chart).to_be_visible()
        heights = chart.locator("rect.rect").evaluate_all(
            "bars => bars.map(bar => bar.getBBox().height)"
        )
        assert any(height > 0 for height in heights), name
    expect(page.locator("svg#chart-satisfaction path.slice")).to_have_count(3)
    # The chart stylesheet reached the page through its policy: pygal's white background.
    background = page.locator("svg#chart-per-day .graph > .background").evaluate(
        "rect => getComputedStyle(rect).fill"
    )
    assert background == "rgb(255, 255, 255)"
    expect(page.locator('#kpi-answer_rate[data-met="false"]')).to_contain_text("85.7 %")
    screenshot("kpis")
    assert page_log.console_errors == []


def test_the_live_board_shows_a_new_caller_without_a_reload(
    app: Flask, page: Page, sign_in: SignIn, screenshot: Screenshot, page_log: PageLog
) -> None:
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-board").click()
    general = page.locator("#queue-general .queue-length")
    expect(general).to_have_text("0")
    expect(page.locator("#board-no-script")).to_be_hidden()
    page.evaluate("window.boardLoadedOnce = true")

    record_call(
        app, "CA_WAITING", NOW - timedelta(seconds=40), "+8613800138000",
        (EventKind.HANDOFF, {"queue": "general"}),
    )  # fmt: skip

    expect(general).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    expect(page.locator('#live-calls tr[data-call-sid="CA_WAITING"]')).to_contain_text(
        "138****8000"
    )
    assert page.evaluate("window.boardLoadedOnce") is True  # the same page, not a reload
    screenshot("board")
    assert page_log.console_errors == []


def test_filtering_tickets_and_opening_one(
    app: Flask, page: Page, sign_in: SignIn, screenshot: Screenshot
) -> None:
    add_tickets(app)
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-tickets").click()
    rows = page.locator("#ticket-list tbody tr")
    expect(rows).to_have_count(3)
    screenshot("tickets")

    page.locator("#filter-sla").select_option("at_risk")
    page.locator("#filter-apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-number", "1123003")

    page.locator("#filter-reset").click()
    page.locator("#filter-kind").select_option("complaint")
    page.locator("#filter-apply").click()
    expect(rows).to_have_count(1)
    screenshot("tickets-filtered")

    rows.first.locator("a.ticket-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("1123002")
    expect(page.locator("#escalation-ladder li.current")).to_have_text("2 · 客服主管")
    screenshot("ticket")


def test_a_built_month_is_listed_and_downloads(
    app: Flask, page: Page, sign_in: SignIn, clock: FrozenClock, screenshot: Screenshot
) -> None:
    with app.app_context():
        found = services()
        target = reports_dir(found.settings) / "2026-10"
        build_report(found.db, "2026-10", target, found.settings, clock, pdf=False)
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-reports").click()
    expect(page.locator("#report-list tbody tr")).to_have_count(1)
    expect(page.locator("#report-2026-10-report-pdf")).to_have_count(0)
    screenshot("reports")

    with page.expect_download() as started:
        page.locator("#report-2026-10-calls-csv").click()
    download = started.value
    assert download.suggested_filename == "2026-10-calls.csv"
    saved = Path(download.path())
    assert saved.read_bytes() == (target / "calls.csv").read_bytes()

    page.locator("#report-2026-10-report-html").click()
    expect(page).to_have_url(re.compile(r"/console/reports/2026-10/report\.html$"))
    expect(page).to_have_title(re.compile("2026-10"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("月度来电统计报告")
    # Its own inline CSS applies: the page's policy allows the report's styles and nothing else.
    assert page.locator("body").evaluate("body => getComputedStyle(body).maxWidth") == "960px"


@pytest.fixture(autouse=True)
def _office_hours(clock: FrozenClock) -> None:
    """Every test starts at 10:00 on 23 November, in office hours."""
    clock.set(NOW)


def test_marking_a_dead_letter_resolved(
    app: Flask, page: Page, sign_in: SignIn, screenshot: Screenshot, page_log: PageLog
) -> None:
    add_rows(
        app,
        DeadLetter(
            event_key="CA_DEAD:1:speech:main_menu",
            parked_at=NOW - timedelta(minutes=20),
            source="record_call_events",
            call_sid="CA_DEAD",
            event='{"kind": "speech", "detail": {"text": "漏水\\u0000"}}',
            error_class="DataError (DataError)",
            error_message="PostgreSQL text fields cannot contain NUL (0x00) bytes",
            resolved=False,
        ),
    )
    sign_in(StaffRole.SUPERVISOR)
    page.locator("#nav-dead-letters").click()
    expect(page.locator("#nav-dead-letters-count")).to_have_text("1")
    expect(page.locator("#dead-letters tr.dead-letter")).to_have_count(1)
    screenshot("open")

    page.locator("#dead-letters button[id^=resolve-]").click()

    expect(page.get_by_text("marked resolved.")).to_be_visible()
    expect(page.locator("#dead-letters button[id^=resolve-]")).to_have_count(0)
    expect(page.locator("#nav-dead-letters-count")).to_have_count(0)
    expect(page.locator("#dead-letters tr.dead-letter td").last).to_contain_text("已处理")
    screenshot("resolved")
