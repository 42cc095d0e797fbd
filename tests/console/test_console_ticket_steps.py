"""The console's ticket page takes the order's next steps: the buttons its status allows,
dispatch with the default technician preselected, a refused step said on the page, each
step stamped with the supervisor's name; and its history shows ticket numbers whole."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.core.clock import FrozenClock
from ivr.models import StaffRole, TicketStatus, User
from tests.web_client import csrf_token_in, log_in, page_html
from tests.work_orders import PLUMBER, SUPERVISORS, hire_crew, report, texts_to, the_ticket


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


@pytest.fixture
def crew(make_user: Callable[..., User]) -> dict[str, User]:
    return hire_crew(make_user)


def steps_offered(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="step" value="([a-z_]+)">', html)


def take(client: FlaskClient, ticket_id: int, step: str, **fields: str) -> tuple[int, str]:
    page = page_html(client, f"/console/tickets/{ticket_id}")
    response = client.post(
        f"/console/tickets/{ticket_id}/transitions",
        data={"csrf_token": csrf_token_in(page), "step": step, **fields},
        follow_redirects=True,
    )
    return response.status_code, response.get_data(as_text=True)


def test_a_supervisor_dispatches_and_closes_from_the_ticket_page(
    app: Flask, clock: FrozenClock, supervisor: FlaskClient, crew: dict[str, User]
) -> None:
    report(app, clock)
    ticket_id = the_ticket(app).id
    html = page_html(supervisor, f"/console/tickets/{ticket_id}")
    assert steps_offered(html) == ["acknowledged", "dispatched", "cancelled"]
    # The plumber is preselected for a water repair.
    assert '<option value="laozhang" selected>张师傅（水管漏水或堵塞） · 在办 0</option>' in html
    assert "单号：1123001" in html  # the history's ticket number, never masked

    status, html = take(supervisor, ticket_id, "dispatched", technician="laozhang")
    assert status == 200
    assert "工单1123001：派工 · Dispatch" in html
    assert steps_offered(html) == ["on_site", "done", "reassign", "returned", "cancelled"]
    assert 'id="ticket-technician">张师傅' in html
    assert len(texts_to(app, PLUMBER)) == 1
    assert "处理人：李主管；维修人员：张师傅" in html

    status, html = take(supervisor, ticket_id, "done", note="换了阀芯", fee="20")
    assert status == 200
    assert "换了阀芯 收费 20.00 元" in html
    status, html = take(supervisor, ticket_id, "closed")
    assert (status, the_ticket(app).status) == (200, TicketStatus.CLOSED)
    assert steps_offered(html) == ["open"]


def test_a_refused_step_is_said_on_the_page(
    app: Flask, clock: FrozenClock, supervisor: FlaskClient, crew: dict[str, User]
) -> None:
    report(app, clock)
    ticket_id = the_ticket(app).id
    status, html = take(supervisor, ticket_id, "cancelled", note="")
    assert status == 422
    assert 'id="step-problem">say why (cancelled needs a note)' in html
    status, html = take(supervisor, ticket_id, "closed")
    assert status == 409
    assert "cannot move to closed" in html
    assert the_ticket(app).status == TicketStatus.OPEN


def test_only_supervisors_move_tickets_from_the_console(
    app: Flask,
    clock: FrozenClock,
    client: FlaskClient,
    make_user: Callable[..., User],
    crew: dict[str, User],
) -> None:
    report(app, clock)
    ticket_id = the_ticket(app).id
    make_user("agent1", role=StaffRole.AGENT)
    assert log_in(client, "agent1").status_code == 302
    refused = client.post(f"/console/tickets/{ticket_id}/transitions", data={"step": "closed"})
    assert refused.status_code in {400, 403}
    assert the_ticket(app).status == TicketStatus.OPEN


def test_every_order_prints_as_a_pdf_for_the_archive(
    app: Flask, clock: FrozenClock, supervisor: FlaskClient, crew: dict[str, User]
) -> None:
    report(app, clock)
    ticket_id = the_ticket(app).id
    take(supervisor, ticket_id, "dispatched", technician="laozhang")
    take(supervisor, ticket_id, "done", note="换了阀芯 <b>&", materials="阀芯", fee="35")
    html = page_html(supervisor, f"/console/tickets/{ticket_id}")
    assert f'href="/console/tickets/{ticket_id}/order.pdf"' in html
    response = supervisor.get(f"/console/tickets/{ticket_id}/order.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'inline; filename="repair-order-1123001.pdf"'
    assert response.data.startswith(b"%PDF-")
    assert b"STSong-Light" in response.data  # the Chinese typeface every reader has
    assert supervisor.get("/console/tickets/9999999/order.pdf").status_code == 404
