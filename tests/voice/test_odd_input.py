"""Odd input on the staff's pages and the API: every route answers NUL, huge values and broken
UTF-8 with a 400 or 404, never a 500. The sweep walks the whole URL map, so a new route is
covered the day it is added. (Twilio's /voice/ webhooks answer callers instead: see
tests/voice/test_bad_input.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from ivr.models import StaffRole, User
from tests.conftest import API_TOKEN
from tests.twilio_fake import TwilioFake
from tests.web_client import log_in, page_token

HUGE = "x" * 1_000_000
# The WSGI form of a path segment (raw bytes as latin-1 characters), as a server hands it over.
ODD_PATH_SEGMENTS = {
    "nul": "CA\x00x",
    "control": "CA\x1bx",
    "huge": HUGE,
    "broken utf-8": "\xff\xfe",
    "encoded surrogate": "\xed\xa0\x80",
}
# Percent-encoded, as they arrive in a query string or a form body.
ODD_ENCODED_VALUES = {
    "nul": "%00",
    "control": "a%1Bb",
    "huge": HUGE,
    "broken utf-8": "%ff%fe",
    "encoded surrogate": "%ed%a0%80",
}
ODD_JSON_BODIES = {
    "nul": b'{"note": "\\u0000"}',
    "control": b'{"to": "a\\u001bb"}',
    "huge": b'{"note": "' + HUGE.encode() + b'"}',
    "broken utf-8": b'{"note": "\xff\xfe"}',
    "lone surrogate": b'{"note": "\\ud800"}',
    "surrogate key": b'{"\\udfff": 1}',
    "deep": b"[" * 100_000,
    "not json": b"{",
}
# Names the pages and the API read; odd values under all of them at once.
FIELD_NAMES = (
    "q",
    "caller",
    "unit",
    "status",
    "category",
    "from",
    "to",
    "older",
    "newer",
    "limit",
    "next",
    "month",
    "username",
    "password",
    "availability",
    "call_sid",
    "note",
)
ORDINARY_ARGUMENTS = {
    "filename": "hotline.css",
    "name": "x.wav",
    "call_sid": "CA1",
    "key": "1",
    "callback_id": "1",
    "letter_id": "1",
    "month": "2026-11",
    "token": "not-a-signed-link",
}


@dataclass
class Sweep:
    """A browser signed in as an admin that also sends the API's bearer token."""

    client: FlaskClient
    csrf_token: str
    answers: list[tuple[str, int]] = field(default_factory=list)

    def send(self, method: str, path: str, **options: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {API_TOKEN}", **options.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **options)
        sent = options.get("environ_overrides", {}).get("PATH_INFO", path)
        self.answers.append((f"{method} {sent[:80]!r}", response.status_code))
        return response


def swept_rules(app: Flask) -> list[Rule]:
    """Every route but Twilio's webhooks; signing out last, so the sweep stays signed in."""
    rules = [rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/voice/")]
    return sorted(rules, key=lambda rule: (rule.endpoint == "auth.logout", rule.rule))


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def path_of(rule: Rule, odd: str | None = None) -> str:
    """The rule's path with ordinary values in its converters, or `odd` in each of them (an
    extra segment when it has none)."""
    path = rule.rule
    for name in rule.arguments:
        value = odd if odd is not None else ORDINARY_ARGUMENTS[name]
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", lambda _m, v=value: v, path)  # type: ignore[misc]
    if odd is not None and not rule.arguments:
        path = path.rstrip("/") + "/" + odd
    return path


def odd_query(value: str) -> str:
    names = FIELD_NAMES[:1] if value is HUGE else FIELD_NAMES
    return "&".join(f"{name}={value}" for name in names)


def sweep_requests(sweep: Sweep, rule: Rule) -> Iterator[TestResponse]:
    for method in methods_of(rule):
        plain = path_of(rule)
        for segment in ODD_PATH_SEGMENTS.values():
            odd_path = path_of(rule, segment)
            yield sweep.send(method, plain, environ_overrides={"PATH_INFO": odd_path})
        for value in ODD_ENCODED_VALUES.values():
            yield sweep.send(method, f"{plain}?{odd_query(value)}")
            form = f"csrf_token={sweep.csrf_token}&{odd_query(value)}"
            yield sweep.send(
                method, plain, data=form, content_type="application/x-www-form-urlencoded"
            )
        for body in ODD_JSON_BODIES.values():
            yield sweep.send(method, plain, data=body, content_type="application/json")


@pytest.fixture
def sweep(app: Flask, make_user: Callable[..., User]) -> Sweep:
    client = app.test_client()
    make_user("guanli", role=StaffRole.ADMIN)
    assert log_in(client, "guanli").status_code == 302
    return Sweep(client, page_token(client, "/desk/"))


def test_every_route_answers_odd_input_without_a_server_error(app: Flask, sweep: Sweep) -> None:
    rules = swept_rules(app)
    assert len(rules) > 30  # the sweep really walks the URL map
    for rule in rules:
        for response in sweep_requests(sweep, rule):
            assert response.status_code in {400, 404}, (sweep.answers[-1], response.text[:300])
    assert len(sweep.answers) > 20 * len(rules)


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickets?caller=%00",
        "/api/calls/CA%00x",
        "/api/calls?unit=%ff%fe",
        "/api/callbacks?q=" + "x" * 5000,
    ],
)
def test_the_api_refuses_odd_input_in_json(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"].startswith("odd input refused: ")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/console/calls?unit=%00", "the query string contains a control character"),
        ("/console/calls?unit=%ff%fe", "the query string is not valid UTF-8"),
        ("/login?next=%ed%a0%80", "the query string is not valid UTF-8"),
    ],
)
def test_pages_refuse_odd_input_with_a_short_page(
    client: FlaskClient, path: str, problem: str
) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "无法处理的请求" in response.text
    assert problem in response.text


def test_signing_in_with_a_nul_is_refused_before_the_database(client: FlaskClient) -> None:
    token = page_token(client)
    response = client.post(
        "/login", data={"csrf_token": token, "username": "a\x00b", "password": "x"}
    )
    assert response.status_code == 400
    assert "the form contains a control character" in response.text


def test_ordinary_text_with_line_breaks_and_chinese_passes(
    supervisor: FlaskClient, app: Flask
) -> None:
    assert supervisor.get("/console/calls?unit=3-1-201&q=漏水").status_code == 200
    token = page_token(supervisor, "/console/reports")
    response = supervisor.post(
        "/console/reports/build", data={"csrf_token": token, "month": "2026-10\r\n\t"}
    )
    assert response.status_code != 400 or "无法处理的请求" not in response.text


def test_a_json_body_with_tabs_and_line_breaks_passes(client: FlaskClient) -> None:
    response = client.get(
        "/api/calls",
        data='{"note": "第一行\\n\\t第二行"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 200


def test_twilio_webhooks_are_left_to_answer_the_caller(twilio: TwilioFake) -> None:
    verbs = twilio.follow(
        "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0", "CA900", Digits="1\x00"
    )
    assert [verb.tag for verb in verbs][-2:] == ["Gather", "Redirect"]
