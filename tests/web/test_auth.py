"""Staff sign-in: hashed passwords, lockout, CSRF, roles, availability and safe redirects."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.core.clock import FrozenClock
from ivr.models import Availability, StaffRole, User
from ivr.registry.staff import LOCKOUT, MAX_FAILED_LOGINS, password_matches
from ivr.services import services
from ivr.web.access import local_path
from tests.web_client import STAFF_PASSWORD, csrf_token_in, log_in, page_token, submit

REFUSAL = "用户名或密码不正确，或尝试次数过多，请稍后再试。"

MakeUser = Callable[..., User]


def stored_user(app: Flask, username: str) -> User:
    with app.app_context(), services().db.reader() as session:
        return session.scalars(select(User).filter_by(username=username)).one()


def signed_in(client: FlaskClient) -> bool:
    return client.get("/desk/").status_code == 200


def refusal_page(response_html: str, username: str) -> str:
    """The refusal with what differs by design taken out: the name typed and the token."""
    without_token = re.sub(r'name="csrf_token" value="[^"]+"', "", response_html)
    return without_token.replace(f'value="{username}"', "")


# --- passwords ----------------------------------------------------------------------------


def test_passwords_are_stored_as_salted_scrypt_hashes(app: Flask, make_user: MakeUser) -> None:
    make_user("alice")
    make_user("bob")
    alice, bob = stored_user(app, "alice"), stored_user(app, "bob")
    assert alice.password_hash.startswith("scrypt:")
    assert STAFF_PASSWORD not in alice.password_hash
    assert alice.password_hash != bob.password_hash  # same password, different salt
    assert password_matches(alice.password_hash, STAFF_PASSWORD)
    assert not password_matches(alice.password_hash, STAFF_PASSWORD.upper())


# --- signing in and out -------------------------------------------------------------------


def test_an_agent_signs_in_and_lands_on_the_desk(
    app: Flask, client: FlaskClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    make_user("alice", display_name="王丽")
    response = log_in(client, "alice")
    assert (response.status_code, response.location) == (302, "/desk/")
    desk = client.get("/desk/").get_data(as_text=True)
    assert "坐席工作台" in desk
    assert "王丽" in desk
    assert stored_user(app, "alice").last_login_at == clock.now()


def test_usernames_ignore_case(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("Alice")
    assert log_in(client, "ALICE").status_code == 302


@pytest.mark.parametrize(
    ("role", "landing"),
    [(StaffRole.SUPERVISOR, "/console/"), (StaffRole.ADMIN, "/console/")],
)
def test_supervisors_land_on_the_console(
    client: FlaskClient, make_user: MakeUser, role: StaffRole, landing: str
) -> None:
    make_user("boss", role=role)
    assert log_in(client, "boss").location == landing


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("nobody", STAFF_PASSWORD), ("alice", "")],
)
def test_wrong_credentials_are_refused_alike(
    client: FlaskClient, make_user: MakeUser, username: str, password: str
) -> None:
    make_user("alice")
    response = log_in(client, username, password)
    assert response.status_code == 200
    assert REFUSAL in response.get_data(as_text=True)
    assert not signed_in(client)


def test_signing_out_ends_the_session(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("alice")
    log_in(client, "alice")
    response = submit(client, "/desk/", "/logout")
    assert (response.status_code, response.location) == (302, "/login")
    assert not signed_in(client)


# --- lockout ------------------------------------------------------------------------------


def fail_to_log_in(client: FlaskClient, username: str, times: int) -> None:
    for _ in range(times):
        assert REFUSAL in log_in(client, username, "guess").get_data(as_text=True)


def test_five_failures_lock_the_account_for_fifteen_minutes(
    app: Flask, client: FlaskClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    make_user("alice")
    fail_to_log_in(client, "alice", MAX_FAILED_LOGINS)
    assert stored_user(app, "alice").locked_until == clock.now() + LOCKOUT

    clock.advance(minutes=14, seconds=59)
    refused = log_in(client, "alice")  # the right password, too early
    assert REFUSAL in refused.get_data(as_text=True)
    assert not signed_in(client)

    clock.advance(seconds=1)
    assert log_in(client, "alice").status_code == 302
    unlocked = stored_user(app, "alice")
    assert (unlocked.failed_logins, unlocked.locked_until) == (0, None)


def test_four_failures_then_success_start_the_count_again(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice")
    fail_to_log_in(client, "alice", MAX_FAILED_LOGINS - 1)
    assert log_in(client, "alice").status_code == 302
    assert stored_user(app, "alice").failed_logins == 0


def test_after_the_lock_runs_out_a_guesser_gets_five_more_tries_only(
    app: Flask, client: FlaskClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    make_user("alice")
    fail_to_log_in(client, "alice", MAX_FAILED_LOGINS)
    clock.advance(minutes=15)
    fail_to_log_in(client, "alice", MAX_FAILED_LOGINS)
    assert stored_user(app, "alice").locked_until == clock.now() + LOCKOUT


def test_a_locked_account_looks_like_an_unknown_one(app: Flask, make_user: MakeUser) -> None:
    make_user("alice")
    fail_to_log_in(app.test_client(), "alice", MAX_FAILED_LOGINS)
    locked = log_in(app.test_client(), "alice")
    unknown = log_in(app.test_client(), "nobody")
    assert locked.status_code == unknown.status_code == 200
    assert refusal_page(locked.get_data(as_text=True), "alice") == refusal_page(
        unknown.get_data(as_text=True), "nobody"
    )


# --- CSRF ---------------------------------------------------------------------------------


def test_csrf_protection_is_on_by_default(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_a_login_without_the_csrf_token_is_refused(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert "请重新提交" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_a_token_from_another_session_is_refused(client: FlaskClient, app: Flask) -> None:
    stranger_token = page_token(app.test_client())
    page_token(client)  # this browser has a session, and its own token
    response = client.post(
        "/login", data={"csrf_token": stranger_token, "username": "a", "password": "b"}
    )
    assert response.status_code == 400


def test_availability_and_logout_need_the_csrf_token(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice")
    log_in(client, "alice")
    assert client.post("/desk/availability", data={"availability": "available"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert stored_user(app, "alice").availability == Availability.AWAY
    assert signed_in(client)


# --- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (StaffRole.AGENT, "/desk/", 200),
        (StaffRole.AGENT, "/console/", 403),
        (StaffRole.SUPERVISOR, "/desk/", 200),
        (StaffRole.SUPERVISOR, "/console/", 200),
        (StaffRole.ADMIN, "/desk/", 200),
        (StaffRole.ADMIN, "/console/", 200),
    ],
)
def test_each_role_opens_its_own_pages(
    client: FlaskClient, make_user: MakeUser, role: StaffRole, path: str, status: int
) -> None:
    make_user("someone", role=role)
    log_in(client, "someone")
    response = client.get(path)
    assert response.status_code == status
    if status == 403:
        assert "无权访问" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/desk/", "/login?next=/desk/"),
        ("/console/", "/login?next=/console/"),
        ("/console/?month=2026-11", "/login?next=/console/?month%3D2026-11"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: FlaskClient, path: str, location: str
) -> None:
    response = client.get(path)
    assert (response.status_code, response.location) == (302, location)


def test_signing_in_returns_to_the_page_asked_for(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("boss", role=StaffRole.SUPERVISOR)
    form = client.get("/login?next=%2Fconsole%2F%3Fmonth%3D2026-11").get_data(as_text=True)
    assert '<input type="hidden" name="next" value="/console/?month=2026-11">' in form
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token_in(form),
            "username": "boss",
            "password": STAFF_PASSWORD,
            "next": "/console/?month=2026-11",
        },
    )
    assert response.location == "/console/?month=2026-11"


# --- next: never off-site -----------------------------------------------------------------

OFF_SITE = [
    "https://evil.example/desk/",
    "//evil.example/desk/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    " //evil.example",
    "desk/",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leads_off_site(client: FlaskClient, make_user: MakeUser, target: str) -> None:
    make_user("alice")
    response = log_in(client, "alice", next_page=target)
    assert (response.status_code, response.location) == (302, "/desk/")


@pytest.mark.parametrize("target", OFF_SITE)
def test_local_path_refuses_what_is_not_a_local_path(target: str) -> None:
    assert local_path(target) is None


@pytest.mark.parametrize("target", ["/desk/", "/console/?month=2026-11", "/desk/#waiting"])
def test_local_path_keeps_local_paths(target: str) -> None:
    assert local_path(target) == target


# --- the desk -----------------------------------------------------------------------------


def test_an_agent_sets_their_availability(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice")
    log_in(client, "alice")
    response = submit(client, "/desk/", "/desk/availability", availability="available")
    assert (response.status_code, response.location) == (302, "/desk/")
    assert stored_user(app, "alice").availability == Availability.AVAILABLE
    desk = client.get("/desk/").get_data(as_text=True)
    assert re.search(r'value="available"\s+checked', desk)
    assert "状态已保存" in desk


@pytest.mark.parametrize("value", ["", "asleep", "AVAILABLE"])
def test_an_unknown_availability_is_refused(
    app: Flask, client: FlaskClient, make_user: MakeUser, value: str
) -> None:
    make_user("alice")
    log_in(client, "alice")
    response = submit(client, "/desk/", "/desk/availability", availability=value)
    assert response.status_code == 400
    assert stored_user(app, "alice").availability == Availability.AWAY


# --- cookies and headers ------------------------------------------------------------------


def session_cookie_of(response_headers: list[str]) -> str:
    cookies = [header for header in response_headers if header.startswith("session=")]
    assert len(cookies) == 1, response_headers
    return cookies[0]


def test_session_cookie_is_http_only_and_same_site(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("alice")
    response = log_in(client, "alice")
    cookie = session_cookie_of(response.headers.getlist("Set-Cookie"))
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Secure" not in cookie  # development runs over plain HTTP


def test_production_session_cookie_is_secure(make_app: Callable[..., Flask]) -> None:
    production = make_app(env="production", twilio_account_sid="AC" + "0" * 32)
    response = production.test_client().get("/login", base_url="https://hotline.example.com")
    cookie = session_cookie_of(response.headers.getlist("Set-Cookie"))
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie


def test_staff_pages_are_never_framed_or_cached(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_login_page_labels_its_fields_and_loads_nothing_from_elsewhere(
    client: FlaskClient,
) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert '<label for="username">' in page
    assert '<label for="password">' in page
    assert re.findall(r'(?:href|src)="([^"]+)"', page) == [
        "/static/favicon.svg",
        "/static/hotline.css",
        "#main",
    ]
    for asset in ("/static/favicon.svg", "/static/hotline.css"):
        with client.get(asset) as served:
            assert served.status_code == 200


def test_voice_webhooks_need_no_csrf_token(app: Flask) -> None:
    # Twilio cannot send a CSRF token: its webhooks are checked by signature instead.
    response = app.test_client().post("/voice/status", data={"CallSid": "CA1"})
    assert response.status_code == 403  # refused for its signature, not for a CSRF token
