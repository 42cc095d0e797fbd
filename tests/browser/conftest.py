"""Browser tests: the real hotline served on 127.0.0.1, driven by Debian's headless chromium
through Playwright's sync API. Playwright never downloads a browser of its own.

One browser per session, a fresh context and page per test, and a full-page screenshot of
every test's last page in $IVR_TEST_ARTIFACTS (default `test-artifacts/`), failed or not.
The live server shares the test's FrozenClock: time stands still unless a test moves it.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Request,
    expect,
    sync_playwright,
)
from werkzeug.serving import WSGIRequestHandler, make_server

from ivr.config import PROJECT_ROOT
from ivr.models import StaffRole, User
from tests.web_client import STAFF_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
LIVE_HOST = "127.0.0.1"

MakeUser = Callable[..., User]
SignIn = Callable[..., User]
Screenshot = Callable[[str], Path]


def artifacts_dir() -> Path:
    return Path(os.environ.get("IVR_TEST_ARTIFACTS") or PROJECT_ROOT / "test-artifacts")


def screenshot_name(node: pytest.Item, label: str = "") -> str:
    """`test_sign_in.test_x-supervisor.png` for tests/browser/test_sign_in.py::test_x[supervisor],
    `test_sign_in.test_x-supervisor-desk.png` for its shot labelled "desk"."""
    module = Path(str(node.path)).stem
    stem = "-".join(part for part in (f"{module}.{node.name}", label) if part)
    return re.sub(r"[^\w.-]+", "-", stem).strip("-") + ".png"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: what a browser sees does not depend on the database behind the pages."""
    copy = tmp_path / "ivr.sqlite3"
    shutil.copy(sqlite_template, copy)
    return f"sqlite:///{copy}"


class QuietRequestHandler(WSGIRequestHandler):
    """The live server's requests are the test's business, not lines on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app from `make_app` served by werkzeug on a free port; yields its base URL."""
    server = make_server(LIVE_HOST, 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://{LIVE_HOST}:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: scripts/test installs Debian's chromium (apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium_or_skip()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        with sync_playwright() as playwright:
            # Playwright already starts chromium without its sandbox, which root needs.
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            yield launched
            launched.close()


@dataclass
class PageLog:
    """What a page asked for and complained about while the test ran."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[str]:
        """Requests to anywhere but the live server: a CDN, a font host, a tracker."""
        return [url for url in self.requests if urlsplit(url).hostname != LIVE_HOST]

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            source = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({source})")

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(
    browser: Browser, live_server: str, page_log: PageLog, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh browser context per test, its paths relative to the live server."""
    yield from watched_page(browser, live_server, page_log, request.node)
    # Whatever the test checked, no page may leak a request or throw.
    assert page_log.outside_requests() == []
    assert page_log.page_errors == []


def watched_page(
    browser: Browser, live_server: str, page_log: PageLog, node: pytest.Item, label: str = ""
) -> Iterator[Page]:
    """A page in a context of its own (its own sign-in), every request and error noted in
    `page_log`, and a screenshot when the test is done."""
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    opened = context.new_page()
    opened.on("console", page_log.on_console)
    opened.on("request", page_log.on_request)
    opened.on("pageerror", page_log.on_page_error)
    yield opened
    try:
        save_screenshot(opened, node, label)
    finally:
        context.close()


def save_screenshot(page: Page, node: pytest.Item, label: str = "") -> Path:
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / screenshot_name(node, label)
    page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Screenshot:
    """Saves the page as it is now, named after the test and `label`; the last page is
    saved anyway."""

    def take(label: str) -> Path:
        return save_screenshot(page, request.node, label)

    return take


def fill_login(page: Page, username: str, password: str = STAFF_PASSWORD) -> None:
    """Open /login, type the credentials and press the button, as a person would."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


@pytest.fixture
def sign_in(page: Page, make_user: MakeUser) -> SignIn:
    """Adds a member of staff (an agent by default) and signs in as them on /login."""

    def sign_in_as(role: StaffRole = StaffRole.AGENT, username: str = "", **details: Any) -> User:
        user = make_user(username or f"{role.value}1", role=role, **details)
        fill_login(page, user.username)
        expect(page).not_to_have_url(re.compile(r"/login"))
        return user

    return sign_in_as
