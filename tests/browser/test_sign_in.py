"""Signing in, roles, availability and signing out, in a real headless chromium."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from ivr.models import Availability, StaffRole, User
from ivr.services import services
from tests.browser.conftest import MakeUser, PageLog, Screenshot, SignIn, fill_login

REFUSAL = "用户名或密码不正确"


def stored_availability(app: Flask, username: str) -> Availability:
    with app.app_context(), services().db.reader() as session:
        return session.scalars(select(User.availability).filter_by(username=username)).one()


def availability_choice(page: Page, value: Availability) -> Locator:
    """The desk's radio for `value`, found by what it submits rather than by its label."""
    return page.locator(f'input[type="radio"][value="{value.value}"]')


def availability_save_button(page: Page) -> Locator:
    form = page.locator("form", has=page.locator('input[type="radio"][name="availability"]'))
    return form.locator('[type="submit"]')


@pytest.mark.parametrize(
    ("role", "landing", "heading"),
    [
        pytest.param(StaffRole.AGENT, "/desk/", "坐席工作台", id="agent"),
        pytest.param(StaffRole.SUPERVISOR, "/console/", "主管控制台", id="supervisor"),
    ],
)
def test_signing_in_lands_on_the_roles_own_page(
    page: Page, sign_in: SignIn, role: StaffRole, landing: str, heading: str
) -> None:
    sign_in(role, display_name="王丽")
    expect(page).to_have_url(landing)
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    expect(page.get_by_role("navigation", name="账户 Account")).to_contain_text("王丽")


def test_a_wrong_password_shows_the_error_and_keeps_the_name(
    page: Page, make_user: MakeUser
) -> None:
    make_user("alice")
    fill_login(page, "alice", "wrong password")
    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    expect(page).to_have_url("/login")
    expect(page.get_by_label("用户名")).to_have_value("alice")
    expect(page.get_by_label("密码")).to_have_value("")


def test_an_agent_opening_the_console_gets_the_403_page(page: Page, sign_in: SignIn) -> None:
    sign_in(StaffRole.AGENT)
    response = page.goto("/console/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("无权访问")


def test_a_changed_availability_persists_after_a_reload(
    app: Flask, page: Page, sign_in: SignIn
) -> None:
    sign_in(StaffRole.AGENT, username="alice")
    expect(availability_choice(page, Availability.AWAY)).to_be_checked()

    availability_choice(page, Availability.BUSY).check()
    with page.expect_response(lambda response: response.request.method == "POST"):
        availability_save_button(page).click()
    # The save redirects back to the desk: reload only once that page has arrived.
    expect(page.locator("p.notice")).to_contain_text("状态已保存")
    page.reload()

    expect(availability_choice(page, Availability.BUSY)).to_be_checked()
    expect(availability_choice(page, Availability.AWAY)).not_to_be_checked()
    assert stored_availability(app, "alice") == Availability.BUSY


def test_pages_load_nothing_from_elsewhere_and_log_no_errors(
    page: Page, page_log: PageLog, sign_in: SignIn, screenshot: Screenshot
) -> None:
    page.goto("/login")
    screenshot("login")
    sign_in(StaffRole.SUPERVISOR)
    page.goto("/desk/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("坐席工作台")
    screenshot("desk")
    page.goto("/console/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("主管控制台")

    assert any(url.endswith("/static/hotline.css") for url in page_log.requests)
    assert page_log.outside_requests() == []
    assert page_log.console_errors == []
    assert page_log.page_errors == []


def test_signing_out_ends_the_session(page: Page, sign_in: SignIn) -> None:
    sign_in(StaffRole.AGENT)
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url("/login")
    page.goto("/desk/")
    expect(page).to_have_url("/login?next=/desk/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
