"""A repair order's life in chromium: the supervisor dispatches it from the ticket page with
one click (the plumber preselected), the technician opens the link from their SMS on a
phone-sized page, presses arrived and done with a note and a fee, and the dissatisfied
return visit reopens the order, which the supervisor sees in its history."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, ViewportSize, expect

from ivr.core.clock import FrozenClock
from ivr.models import StaffRole, Ticket, TicketStatus, User
from ivr.tickets.lifecycle import note_return_visit
from tests.browser.conftest import PageLog, SignIn, watched_page
from tests.conftest import BASE_URL, services_of
from tests.work_orders import PLUMBER, SUPERVISORS, hire_crew, report, texts_to, the_ticket

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


@pytest.fixture
def phone(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The technician's phone: a page of its own, nobody signed in."""
    log = PageLog()
    for opened in watched_page(browser, live_server, log, request.node, "phone"):
        opened.set_viewport_size(PHONE)
        yield opened
    assert log.outside_requests() == []
    assert log.page_errors == []


def dissatisfied_return_visit(app: Flask, clock: FrozenClock) -> None:
    """The survey call's answer, as the callbacks worker records it: 3, 不满意."""
    found = services_of(app)
    with found.db.session() as session:
        ticket = session.get(Ticket, the_ticket(app).id)
        assert ticket is not None
        clock.advance(hours=3)
        note_return_visit(
            session, ticket, 1, 3, clock.now(), found.settings, found.engine.catalogues
        )


def test_dispatch_the_technicians_page_done_and_the_return_visit(
    app: Flask,
    page: Page,
    phone: Page,
    sign_in: SignIn,
    make_user: Callable[..., User],
    clock: FrozenClock,
) -> None:
    hire_crew(make_user)
    report(app, clock)
    ticket_id = the_ticket(app).id
    sign_in(StaffRole.SUPERVISOR, display_name="李主管")

    page.goto(f"/console/tickets/{ticket_id}")
    dispatch = page.locator("#step-dispatched")
    expect(dispatch.get_by_label("维修人员")).to_have_value("laozhang")
    dispatch.get_by_role("button", name="派工").click()
    expect(page.locator("#ticket-status")).to_contain_text("已派工")
    expect(page.locator("#ticket-technician")).to_contain_text("张师傅")
    expect(page.get_by_role("status").first).to_contain_text("工单1123001：派工")

    link = texts_to(app, PLUMBER)[-1].rsplit("：", 1)[1]
    phone.goto(link.removeprefix(BASE_URL))
    expect(phone.locator("#field-unit")).to_have_text("3栋2单元501室")
    expect(phone.locator("#field-visit")).to_have_text("11月24日上午9:00–12:00")
    phone.get_by_role("button", name="已到场").click()
    expect(phone.locator("#field-status")).to_contain_text("已到场")
    clock.advance(minutes=45)
    phone.get_by_label("处理情况").fill("换了阀芯，试水不漏")
    phone.get_by_label("用料").fill("阀芯1个")
    phone.get_by_label("有偿服务收费（元）").fill("35")
    phone.locator("#field-done-form").get_by_role("button", name="完成维修").click()
    expect(phone.locator("#field-finished")).to_be_visible()
    assert the_ticket(app).status == TicketStatus.DONE

    page.reload()
    expect(page.locator("#ticket-work")).to_contain_text(
        "换了阀芯，试水不漏（用料：阀芯1个） 收费 35.00 元"
    )
    history = page.locator("#ticket-history")
    expect(history).to_contain_text("维修人员到场")
    expect(history).to_contain_text("处理人：张师傅；备注：换了阀芯，试水不漏")

    dissatisfied_return_visit(app, clock)
    page.reload()
    expect(page.locator("#ticket-status")).to_contain_text("待处理")
    expect(history.locator("tr[data-kind=return_visit]")).to_contain_text("评价：不满意")
    expect(history.locator("tr[data-kind=reopened]")).to_be_visible()
    # Reopened: the dispatch buttons are back, the plumber still preselected.
    expect(page.locator("#step-dispatched").get_by_label("维修人员")).to_have_value("laozhang")
