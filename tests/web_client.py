"""Using the staff's web pages in tests: CSRF tokens read from the forms, signing in."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

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
