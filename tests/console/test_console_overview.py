"""The console's overview: today's numbers at a glance, each linking to its list."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.core.clock import FrozenClock
from ivr.models import User
from tests.web_client import assert_role_checks, page_html
from tests.work_orders import SUPERVISORS, hire_crew, move, report


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=SUPERVISORS)


def figures(html: str) -> dict[str, int]:
    found = re.findall(
        r'<li id="figure-([a-z-]+)"[^>]*>\s*<a href="[^"]*"><span class="figure-value">(\d+)</span>',
        html,
    )
    return {key: int(value) for key, value in found}


def test_the_overview_counts_today(
    app: Flask, clock: FrozenClock, supervisor: FlaskClient, make_user: Callable[..., User]
) -> None:
    hire_crew(make_user)
    assert figures(page_html(supervisor, "/console/")) == {
        "calls": 0,
        "waiting": 0,
        "on-the-line": 0,
        "callbacks-overdue": 0,
        "callbacks-today": 0,
        "at-risk": 0,
        "breached": 0,
        "awaiting-dispatch": 0,
        "dispatched-today": 0,
        "done-today": 0,
    }
    number = report(app, clock)
    shown = figures(page_html(supervisor, "/console/"))
    assert (shown["calls"], shown["awaiting-dispatch"]) == (1, 1)
    move(app, number, to="dispatched")
    move(app, number, to="done", note="修好了")
    html = page_html(supervisor, "/console/")
    shown = figures(html)
    assert (shown["awaiting-dispatch"], shown["dispatched-today"], shown["done-today"]) == (0, 1, 1)
    assert '<li id="figure-done-today" class="figure">' in html
    assert 'href="/console/tickets?status=done"' in html


def test_only_supervisors_see_the_overview(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    assert_role_checks(client, make_user, "/console/")
