"""The console's dead letters: what the call log could not store, for supervisors and admins."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.models import AuditAction, AuditEntry, DeadLetter, StaffRole, User
from tests.console_seed import NOW, add_rows
from tests.records import stored
from tests.web_client import assert_role_checks, log_in, page_html, submit

PAGE = "/console/dead-letters"


def letter(key: str, minutes_ago: int, **fields: object) -> DeadLetter:
    values: dict[str, object] = {
        "event_key": key,
        "parked_at": NOW - timedelta(minutes=minutes_ago),
        "source": "record_call_events",
        "call_sid": key.split(":")[0],
        "event": '{"kind": "speech", "detail": {"text": "漏水\\u0000"}}',
        "error_class": "DataError (DataError)",
        "error_message": "PostgreSQL text fields cannot contain NUL (0x00) bytes",
        "resolved": False,
    }
    return DeadLetter(**(values | fields))


def shown_calls(html: str) -> list[str]:
    return re.findall(r'<a href="/console/calls/([^"]+)">', html)


def test_supervisors_see_dead_letters_newest_first(supervisor: FlaskClient, app: Flask) -> None:
    add_rows(
        app,
        letter("CA801:1:speech:main_menu", 30),
        letter("CA802:0:status:status", 5, error_class="IntegrityError"),
        letter("CA800:0:greeted:welcome", 60, resolved=True),
    )
    html = page_html(supervisor, PAGE)
    assert '<h1>死信 <span class="en" lang="en">Dead letters</span></h1>' in html
    assert shown_calls(html) == ["CA802", "CA801", "CA800"]
    assert "2026-11-23 09:55:00" in html
    assert "PostgreSQL text fields cannot contain NUL (0x00) bytes" in html
    assert (
        "{&#34;kind&#34;: &#34;speech&#34;, &#34;detail&#34;: {&#34;text&#34;: &#34;漏水\\u0000&#34;}}"
        in html
    )
    assert html.count('class="dead-letter"') == 3
    assert 'id="nav-dead-letters" href="/console/dead-letters" aria-current="page"' in html
    assert re.search(r'id="nav-dead-letters-count">2<', html)


def test_the_navigation_counts_nothing_when_every_event_was_stored(
    supervisor: FlaskClient,
) -> None:
    html = page_html(supervisor, PAGE)
    assert 'id="no-dead-letters"' in html
    assert 'id="nav-dead-letters"' in html
    assert "nav-dead-letters-count" not in html
    assert "nav-dead-letters-count" not in page_html(supervisor, "/console/")


def test_agents_may_not_open_the_dead_letters(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    assert_role_checks(client, make_user, PAGE)


def test_admins_may(client: FlaskClient, make_user: Callable[..., User], app: Flask) -> None:
    add_rows(app, letter("CA803:0:status:status", 1))
    make_user("boss", role=StaffRole.ADMIN)
    log_in(client, "boss")
    assert shown_calls(page_html(client, PAGE)) == ["CA803"]


@pytest.mark.parametrize("cursor", ["nonsense", "!!"])
def test_a_cursor_the_console_did_not_write_is_refused(
    supervisor: FlaskClient, cursor: str
) -> None:
    response = supervisor.get(f"{PAGE}?older={cursor}")
    assert response.status_code == 400
    assert 'id="dead-letters-problem"' in response.get_data(as_text=True)


def test_pages_of_dead_letters(supervisor: FlaskClient, app: Flask) -> None:
    add_rows(app, *(letter(f"CA9{n:02d}:0:status:status", n) for n in range(55)))
    first = page_html(supervisor, PAGE)
    assert len(shown_calls(first)) == 50
    older = re.search(r'id="page-older" rel="next" href="([^"]+)"', first)
    assert older is not None
    second = page_html(supervisor, older.group(1).replace("&amp;", "&"))
    assert shown_calls(second) == [f"CA9{n:02d}" for n in range(50, 55)]


def test_a_supervisor_marks_a_dead_letter_resolved_and_the_audit_log_says_who(
    supervisor: FlaskClient, app: Flask
) -> None:
    add_rows(app, letter("CA810:1:speech:main_menu", 3))
    [parked] = stored(app, DeadLetter)
    html = page_html(supervisor, PAGE)
    assert f'id="resolve-{parked.id}"' in html
    assert re.search(r'id="nav-dead-letters-count">1<', html)

    answer = submit(supervisor, PAGE, f"{PAGE}/{parked.id}/resolve")

    assert (answer.status_code, answer.headers["Location"]) == (303, PAGE)
    after = page_html(supervisor, PAGE)
    assert f"Dead letter {parked.id} marked resolved." in after
    assert f'id="resolve-{parked.id}"' not in after
    assert "nav-dead-letters-count" not in after
    [entry] = stored(app, AuditEntry)
    assert (entry.username, entry.action, entry.call_sid, entry.detail) == (
        "zhuguan",
        AuditAction.RESOLVE_DEAD_LETTER,
        "CA810",
        f"dead letter {parked.id}",
    )


def test_resolving_twice_is_said_and_audited_once(supervisor: FlaskClient, app: Flask) -> None:
    add_rows(app, letter("CA811:0:status:status", 3))
    [parked] = stored(app, DeadLetter)
    submit(supervisor, PAGE, f"{PAGE}/{parked.id}/resolve")
    again = submit(supervisor, PAGE, f"{PAGE}/{parked.id}/resolve")
    assert again.status_code == 303
    assert f"Dead letter {parked.id} was already resolved." in page_html(supervisor, PAGE)
    assert len(stored(app, AuditEntry)) == 1


def test_resolving_a_dead_letter_that_does_not_exist_is_a_404(supervisor: FlaskClient) -> None:
    answer = submit(supervisor, PAGE, f"{PAGE}/999/resolve")
    assert answer.status_code == 404
    assert "No such dead letter." in answer.get_data(as_text=True)


def test_resolving_needs_the_form_token_and_a_console_role(
    supervisor: FlaskClient, app: Flask
) -> None:
    add_rows(app, letter("CA812:0:status:status", 3))
    [parked] = stored(app, DeadLetter)
    assert supervisor.post(f"{PAGE}/{parked.id}/resolve").status_code == 400  # no CSRF token
    assert not stored(app, DeadLetter)[0].resolved
