"""The technician's phone page: opened from the link in the dispatch SMS without a password,
it shows the order and takes arrived, done and "cannot finish"; a forged, expired or
reassigned link opens nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.core.clock import FrozenClock
from ivr.models import TicketStatus, User
from tests.conftest import BASE_URL
from tests.web_client import csrf_token_in
from tests.work_orders import (
    PLUMBER,
    RESIDENT,
    SUPERVISORS,
    hire_crew,
    move,
    report,
    texts_to,
    the_ticket,
)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


@pytest.fixture
def crew(make_user: Callable[..., User]) -> dict[str, User]:
    return hire_crew(make_user)


def dispatched_link(app: Flask, clock: FrozenClock, to: str = "laozhang") -> str:
    number = report(app, clock)
    status, _ = move(app, number, to="dispatched", technician=to)
    assert status == 200
    sms = texts_to(app, PLUMBER if to == "laozhang" else "+8613911110002")[-1]
    link = sms.rsplit("：", 1)[1]
    assert link.startswith(BASE_URL)
    return link.removeprefix(BASE_URL)


def post_step(phone: FlaskClient, path: str, **fields: str) -> tuple[int, str]:
    token = csrf_token_in(phone.get(path).get_data(as_text=True))
    response = phone.post(path, data={"csrf_token": token, **fields}, follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def test_the_technician_works_the_order_from_the_link(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    phone = app.test_client()
    page = phone.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for shown in (
        "派工单 <code>1123001</code>",
        "3栋2单元501室",
        "厨房水龙头一直滴水，关不紧",
        "11月24日上午9:00–12:00",
        "王芳",
        f'href="tel:{RESIDENT}"',
        "张师傅",
    ):
        assert shown in html

    status, html = post_step(phone, path, to="on_site")
    assert status == 200
    assert "已记录：已到场" in html
    assert the_ticket(app).status == TicketStatus.ON_SITE

    clock.advance(minutes=40)
    status, html = post_step(phone, path, to="done", note="换了阀芯", materials="阀芯", fee="¥35")
    assert status == 200
    assert 'id="field-finished"' in html
    ticket = the_ticket(app)
    assert (ticket.status, ticket.fee_fen, ticket.materials) == (TicketStatus.DONE, 3500, "阀芯")
    assert ticket.resolved_at == clock.now()


def test_cannot_finish_needs_a_reason_and_then_the_link_is_spent(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    phone = app.test_client()
    status, html = post_step(phone, path, to="acknowledged", note="")
    assert status == 422
    assert "say why the order cannot be finished" in html
    status, html = post_step(phone, path, to="acknowledged", note="要换整个水槽")
    assert status == 410
    assert "这个工单已改派或退回" in html
    assert the_ticket(app).status == TicketStatus.ACKNOWLEDGED


def test_the_page_takes_only_the_technicians_steps(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    status, html = post_step(app.test_client(), path, to="cancelled", note="不想修")
    assert status == 422
    assert "Only the dispatcher takes this step" in html
    assert the_ticket(app).status == TicketStatus.DISPATCHED


def test_a_forged_or_expired_link_opens_nothing(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    phone = app.test_client()
    assert phone.get(path[:-3] + "abc").status_code == 403
    assert phone.get("/field/not-a-token").status_code == 403
    clock.advance(days=3, seconds=1)
    expired = phone.get(path)
    assert expired.status_code == 403
    assert "链接无效或已过期" in expired.get_data(as_text=True)


def test_a_reassigned_order_closes_the_first_technicians_link(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    move(app, "1123001", to="dispatched", technician="xiaoli")
    phone = app.test_client()
    assert phone.get(path).status_code == 410
    refused = phone.post(path, data={"to": "on_site"})
    assert refused.status_code in {400, 410}  # no CSRF token, or not theirs: never taken
    assert the_ticket(app).status == TicketStatus.DISPATCHED


def test_a_post_without_the_pages_token_is_refused(
    app: Flask, clock: FrozenClock, crew: dict[str, User]
) -> None:
    path = dispatched_link(app, clock)
    assert app.test_client().post(path, data={"to": "on_site"}).status_code == 400
    assert the_ticket(app).status == TicketStatus.DISPATCHED


def test_the_link_lasts_three_days(app: Flask, clock: FrozenClock, crew: dict[str, User]) -> None:
    path = dispatched_link(app, clock)
    clock.advance(hours=71)
    assert app.test_client().get(path).status_code == 200
