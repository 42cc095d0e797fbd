"""Using the staff's web pages in tests: CSRF tokens read from the forms, signing in, who may
open a page, and the console's lists (pager links, refused filters)."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterator

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.models import User

STAFF_PASSWORD = "correct horse battery"

_CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def csrf_token_in(html: str) -> str:
    """The CSRF token a page's forms carry, as a browser would submit it."""
    found = _CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def page_token(client: FlaskClient, path: str = "/login") -> str:
    """Open `path` and read the CSRF token from its form."""
    response = client.get(path)
    assert response.status_code == 200, response.status
    return csrf_token_in(response.get_data(as_text=True))


def submit(client: FlaskClient, form_page: str, action: str, **fields: str) -> TestResponse:
    """Fill in the form on `form_page` and post it to `action`, token included."""
    return client.post(action, data={"csrf_token": page_token(client, form_page), **fields})


def log_in(
    client: FlaskClient, username: str, password: str = STAFF_PASSWORD, next_page: str = ""
) -> TestResponse:
    fields = {"username": username, "password": password}
    if next_page:
        fields["next"] = next_page
    return submit(client, "/login", "/login", **fields)


def page_html(client: FlaskClient, path: str) -> str:
    """The HTML of a page that opens (200)."""
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def assert_role_checks(client: FlaskClient, make_user: Callable[..., User], path: str) -> None:
    """A console page: anonymous visitors are sent to sign in; agents get the 403 page."""
    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=")
    make_user("agent1")
    log_in(client, "agent1")
    refused = client.get(path)
    assert refused.status_code == 403
    assert "无权访问" in refused.get_data(as_text=True)


# --- reading the console's lists ------------------------------------------------------------


def link(html: str, element_id: str) -> str | None:
    """Where the link with this id goes, if the page has it."""
    found = re.search(rf'id="{element_id}"[^>]*href="([^"]+)"', html)
    return html_lib.unescape(found.group(1)) if found else None


def walk_pages(
    client: FlaskClient, start: str, direction: str, rows: Callable[[str], list[str]]
) -> Iterator[list[str]]:
    """The `rows` of each page from `start`, following the pager's `newer` or `older` link."""
    url: str | None = start
    while url:
        html = client.get(url).get_data(as_text=True)
        yield rows(html)
        url = link(html, f"page-{direction}")


def rejected_filter(response: TestResponse, form_id: str) -> str:
    """Why a list refused its filters: it answers 400 with the form and the reason."""
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="{form_id}"' in html
    problem = re.search(r'id="filter-problem">筛选条件有误：([^<]*)', html)
    assert problem is not None
    return html_lib.unescape(problem.group(1))
