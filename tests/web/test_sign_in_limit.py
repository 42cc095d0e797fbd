"""Refused sign-ins: counted atomically per account, and limited per address (in Redis)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.models import User
from ivr.registry import staff
from tests.web.test_auth import REFUSAL, stored_user
from tests.web_client import STAFF_PASSWORD, page_token

LIMITED = "对不起，从您所在的网络登录失败的次数过多"
LIMITED_EN = "too many unsuccessful sign-ins from your network"


def browser(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client: FlaskClient, password: str, username: str = "alice") -> TestResponse:
    fields = {"csrf_token": page_token(client), "username": username, "password": password}
    return client.post("/login", data=fields)


def test_twenty_guesses_at_once_are_all_counted(
    app: Flask, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lock while they race, so every guess reaches the count (the lock has its own tests).
    monkeypatch.setattr(staff, "MAX_FAILED_LOGINS", 100)
    make_user("alice")
    guessers = [browser(app, f"198.51.100.{n}") for n in range(20)]
    forms = [
        {"csrf_token": page_token(c), "username": "alice", "password": "guess"} for c in guessers
    ]
    start = threading.Barrier(len(guessers))

    def guess(n: int) -> int:
        start.wait()
        response = guessers[n].post("/login", data=forms[n])
        assert REFUSAL in response.text
        return response.status_code

    with ThreadPoolExecutor(len(guessers)) as pool:
        assert list(pool.map(guess, range(len(guessers)))) == [200] * 20
    assert stored_user(app, "alice").failed_logins == 20


def test_guesses_at_once_lock_the_account(app: Flask, make_user: Callable[..., User]) -> None:
    make_user("alice")
    guessers = [browser(app, f"198.51.100.{n}") for n in range(staff.MAX_FAILED_LOGINS)]
    forms = [
        {"csrf_token": page_token(c), "username": "alice", "password": "guess"} for c in guessers
    ]
    start = threading.Barrier(len(guessers))

    def guess(n: int) -> None:
        start.wait()
        guessers[n].post("/login", data=forms[n])

    with ThreadPoolExecutor(len(guessers)) as pool:
        list(pool.map(guess, range(len(guessers))))
    assert stored_user(app, "alice").locked_until is not None
    assert REFUSAL in sign_in(browser(app, "203.0.113.9"), STAFF_PASSWORD).text


def test_an_address_is_held_back_after_ten_refusals_a_minute(
    app: Flask, make_user: Callable[..., User]
) -> None:
    for n in range(10):
        make_user(f"user{n}")  # ten accounts, one guess each: no account locks
    guesser = browser(app, "198.51.100.7")
    for n in range(10):
        assert REFUSAL in sign_in(guesser, "guess", f"user{n}").text
    limited = sign_in(guesser, STAFF_PASSWORD, "user0")  # even the right password, for now
    assert limited.status_code == 429
    assert LIMITED in limited.text
    assert LIMITED_EN in limited.text
    assert limited.headers["Retry-After"] == "60"
    assert limited.headers["Cache-Control"] == "no-store"
    assert sign_in(browser(app, "198.51.100.8"), STAFF_PASSWORD, "user0").status_code == 302


def test_signing_in_successfully_is_not_limited(app: Flask, make_user: Callable[..., User]) -> None:
    make_user("alice")
    office = browser(app, "198.51.100.20")  # a whole shift behind one address
    for _ in range(12):
        assert sign_in(office, STAFF_PASSWORD).status_code == 302
        office.post("/logout", data={"csrf_token": page_token(office, "/desk/")})


def test_the_limit_is_a_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(login_rate_limit="2 per minute")
    guesser = browser(app, "198.51.100.7")
    assert [sign_in(guesser, "guess").status_code for _ in range(3)] == [200, 200, 429]


def test_staff_still_sign_in_when_redis_is_down(
    make_app: Callable[..., Flask],
    make_user: Callable[..., User],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_user("alice")  # in the database both apps share
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    client = browser(app, "198.51.100.7")
    with caplog.at_level(logging.ERROR, logger="flask-limiter"):
        assert REFUSAL in sign_in(client, "guess").text
        assert sign_in(client, STAFF_PASSWORD).status_code == 302
    assert "Swallowing error" in caplog.text
