"""Residents' details stay out of places they would leak to: SQL error messages, browser and
proxy caches, and the action URLs that reach access logs and Twilio's request logs."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ivr.flows.sealed_state import MAX_TOKEN_CHARS, StateSeal, seal_for
from ivr.services import services
from ivr.voice.inbound import edge
from tests.call_walk import Walk, remembered_in, state_url
from tests.conftest import API_TOKEN
from tests.twilio_fake import TwilioFake, call_params

GREETING = "您好，幸福家园物业客服中心，很高兴为您服务。"
DESCRIPTION = (
    "厨房的水龙头一直滴水，拧不紧"  # an ordinary repair: a burst pipe would be an emergency
)

# --- SQL errors ----------------------------------------------------------------------------


def test_an_sql_error_never_shows_the_values_it_was_given(app: Flask) -> None:
    with (
        app.app_context(),
        services().db.reader() as session,
        pytest.raises(DBAPIError) as failed,
    ):
        session.execute(
            text("SELECT * FROM no_such_table WHERE phone = :p"), {"p": "+8613800138000"}
        )
    assert "no_such_table" in str(failed.value)
    assert "13800138000" not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)


# --- caches --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/calls", "/api/calls/CA404", "/api/tickets", "/api/callbacks", "/api/queues"]
)
def test_api_answers_are_never_stored(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code in {200, 404}
    assert response.headers["Cache-Control"] == "no-store"


def test_even_api_refusals_are_never_stored(client: FlaskClient) -> None:
    assert client.get("/api/calls").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/desk/", "/console/", "/console/calls", "/console/tickets"])
def test_staff_pages_are_never_stored(supervisor: FlaskClient, path: str) -> None:
    response = supervisor.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


# --- the call's state in action URLs -------------------------------------------------------


def a_repair_with_a_description(phone: TwilioFake) -> Walk:
    walk = Walk(phone, "CA800").start()
    walk.press("1").press("2").key_unit("7", "1203")  # repairs, ordinary, 7栋1203室
    assert walk.last_heard == ["您输入的是7栋1203室。确认请按1，重新输入请按2。"]
    walk.press("1").press("1")  # confirmed; water
    walk.say(DESCRIPTION)
    walk.press("3")  # tomorrow afternoon
    return walk


def clear_forms(value: str) -> list[str]:
    return [value, quote(value), quote_plus(value)]


def test_no_action_url_shows_the_unit_or_the_description(twilio: TwilioFake, app: Flask) -> None:
    walk = a_repair_with_a_description(twilio)
    assert len(walk.urls) > 10
    for url in walk.urls:
        for secret in ["1203", "7栋", DESCRIPTION, "厨房", *clear_forms(DESCRIPTION)]:
            assert secret not in url, url
        assert not any(name.startswith("d.") for name in parse_qs(urlsplit(url).query))
    carried = [remembered_in(app, url) for url in walk.urls]
    assert any(state.get("desc") == DESCRIPTION for state in carried)  # sealed, not lost
    assert any("1203" in value for state in carried for value in state.values())


def test_sealed_state_comes_back_as_it_was_sealed() -> None:
    seal = StateSeal("a secret")
    remembered = (("desc", DESCRIPTION), ("quote", '"&=?%'), ("unit", "7栋1203室"))
    token = seal.seal(remembered)
    assert token.isascii()
    assert seal.open(token) == remembered
    assert seal.seal(remembered) != token  # a fresh nonce each time: equal states look unrelated


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "gAAAAA" + "A" * 100,
        "令牌",
        "x" * (MAX_TOKEN_CHARS + 1),
    ],
)
def test_tokens_that_are_not_ours_open_to_nothing(token: str) -> None:
    assert StateSeal("a secret").open(token) is None


def test_a_token_sealed_with_another_key_opens_to_nothing() -> None:
    token = StateSeal("one secret").seal((("unit", "7栋1203室"),))
    assert StateSeal("another secret").open(token) is None


def test_a_state_key_changes_without_cutting_off_calls_in_progress() -> None:
    in_progress = seal_for("old key", "secret").seal((("unit", "7栋1203室"),))
    changing = seal_for("new key, old key", "secret")
    assert changing.open(in_progress) == (("unit", "7栋1203室"),)
    fresh = changing.seal((("unit", "8栋101室"),))
    assert seal_for("new key", "secret").open(fresh) == (("unit", "8栋101室"),)
    assert seal_for("old key", "secret").open(fresh) is None  # sealed with the new key
    assert seal_for("new key", "secret").open(in_progress) is None  # once the old is dropped


def test_the_state_key_can_be_set_apart_from_the_secret_key(
    make_app: Callable[..., Flask],
) -> None:
    sealed_by_secret = make_app(secret_key="s" * 32)
    sealed_apart = make_app(secret_key="s" * 32, state_key="k" * 32)
    url = state_url(sealed_by_secret, "/voice/step", "confirm_unit", 3, ul="7栋1203室")
    assert remembered_in(sealed_by_secret, url) == {"ul": "7栋1203室"}
    with sealed_apart.app_context():
        token = parse_qs(urlsplit(url).query)["d"][0]
        assert services().engine.seal.open(token) is None


def tampered(url: str) -> str:
    """The same URL with one character of the sealed state changed."""
    head, token = url.split("&d=")
    flipped = token[:40] + ("B" if token[40] != "B" else "C") + token[41:]
    return f"{head}&d={flipped}"


def test_a_tampered_state_starts_the_menu_again_politely(
    twilio: TwilioFake, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    url = state_url(app, "/voice/step", "confirm_unit", 3, ul="7栋1203室", then="repair_problem")
    verbs = twilio.follow(tampered(url), "CA801", Digits="1")
    assert verbs[0].text == GREETING
    assert [verb.tag for verb in verbs][-2:] == ["Gather", "Redirect"]
    assert verbs[-2].attrs["action"].startswith("/voice/step?node=main_menu&")
    # The operator is told the likely cause (hosts with different keys), without the state.
    [warning] = [
        r.getMessage() for r in caplog.records if "sealed with another key" in r.getMessage()
    ]
    assert "SECRET_KEY" in warning
    assert "1203" not in warning


@pytest.mark.parametrize(
    "path", ["/voice/queue/wait", "/voice/queue/result", "/voice/message", "/voice/dialed"]
)
def test_every_voice_url_answers_a_tampered_state_with_twiml(
    twilio: TwilioFake, app: Flask, path: str
) -> None:
    url = state_url(app, path, "repair_queue", 5, unit="7栋1203室")
    response = twilio.post(tampered(url), call_params("CA802"))
    assert (response.status_code, response.mimetype) == (200, "text/xml")
    with app.app_context():
        assert response.text != edge().fallback_twiml  # answered, not a failure's apology
