"""The console's monthly reports: the months built, downloads (audited, and only of the files
a report has), "build now" for a month that has ended, and who may do what."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job

from ivr.console import reports as console_reports
from ivr.core.clock import FrozenClock
from ivr.models import AuditAction, AuditEntry, User
from ivr.queues import TICKETS_QUEUE
from ivr.reporting import monthly as report
from ivr.reporting.monthly import build_report, reports_dir
from ivr.services import services
from tests.records import stored
from tests.reporting.test_kpi import seed_month
from tests.web_client import assert_role_checks, log_in, page_token, submit

MakeUser = Callable[..., User]


def folder(app: Flask) -> Path:
    with app.app_context():
        return reports_dir(services().settings)


def fake_report(app: Flask, month: str, *names: str) -> Path:
    """A report folder as the builder leaves it, with these files."""
    target = folder(app) / month
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).write_text(f"{month} {name}", encoding="utf-8")
    return target


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "find_chromium", lambda: None)


def listed_months(html: str) -> list[str]:
    return re.findall(r'<tr id="report-[\d-]+" data-month="([\d-]+)">', html)


def download_links(html: str, month: str) -> list[str]:
    return re.findall(rf'href="(/console/reports/{month}/[^"]+)"', html)


def report_jobs(redis: Redis) -> list[Job]:
    queue = Queue(TICKETS_QUEUE, connection=redis)
    return [job for job in queue.jobs if job.func_name == "worker.jobs.build_monthly_report"]


# --- the list and downloads -----------------------------------------------------------------


def test_the_built_months_newest_first_with_their_files(
    app: Flask, supervisor: FlaskClient
) -> None:
    fake_report(app, "2026-09", "report.html", "calls.csv")
    fake_report(app, "2026-10", "report.html", "calls.csv", "report.pdf")
    fake_report(app, "2026-08", "calls.csv")  # unfinished: no page yet
    (folder(app) / ".2026-11-staging").mkdir()
    html = supervisor.get("/console/reports").get_data(as_text=True)
    assert listed_months(html) == ["2026-10", "2026-09"]
    assert download_links(html, "2026-10") == [
        "/console/reports/2026-10/report.html",
        "/console/reports/2026-10/calls.csv",
        "/console/reports/2026-10/report.pdf",
    ]
    assert download_links(html, "2026-09") == [
        "/console/reports/2026-09/report.html",
        "/console/reports/2026-09/calls.csv",
    ]
    assert 'id="build-month" name="month" type="month" required value="2026-10"' in html


def test_no_reports_yet(supervisor: FlaskClient) -> None:
    html = supervisor.get("/console/reports").get_data(as_text=True)
    assert 'id="no-reports"' in html


def test_a_real_report_downloads_as_built_and_each_download_is_audited(
    app: Flask, supervisor: FlaskClient, clock: FrozenClock, no_chromium: None
) -> None:
    with app.app_context():
        found = services()
        with found.db.session() as session:
            seed_month(session)
        build_report(found.db, "2026-11", folder(app) / "2026-11", found.settings, clock)

    with supervisor.get("/console/reports/2026-11/report.html") as page:
        page_bytes = page.data
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == console_reports.REPORT_PAGE_POLICY
    assert "attachment" not in page.headers.get("Content-Disposition", "")
    assert page_bytes == (folder(app) / "2026-11" / "report.html").read_bytes()

    with supervisor.get("/console/reports/2026-11/calls.csv") as register:
        register_bytes = register.data
    assert register.status_code == 200
    assert register.mimetype == "text/csv"
    assert register.headers["Content-Disposition"] == "attachment; filename=2026-11-calls.csv"
    assert register_bytes.startswith(b"\xef\xbb\xbf")
    assert b"138****8000" in register_bytes
    assert b"13800138000" not in register_bytes

    entries = stored(app, AuditEntry)
    assert [(e.action, e.username, e.detail) for e in entries] == [
        (AuditAction.EXPORT_CALLS, "zhuguan", "report 2026-11/report.html"),
        (AuditAction.EXPORT_CALLS, "zhuguan", "report 2026-11/calls.csv"),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/console/reports/2026-10/secret.txt",  # in the folder, but not a report's file
        "/console/reports/2026-10/..%2F..%2Fivr.sqlite3",
        "/console/reports/..%2F2026-10/report.html",
        "/console/reports/2026-10/%2e%2e",
        "/console/reports/2026-10/report.html%00",
        "/console/reports/2026-13/report.html",
        "/console/reports/.2026-11-staging/report.html",
        "/console/reports/2026-08/calls.csv",  # a folder without its page is not finished
        "/console/reports/2026-09/report.pdf",  # built without a PDF
        "/console/reports/2025-10/report.html",  # never built
        "/console/reports/2026-10/REPORT.HTML",
    ],
)
def test_only_a_reports_own_files_can_be_downloaded(
    app: Flask, supervisor: FlaskClient, path: str
) -> None:
    fake_report(app, "2026-10", "report.html", "calls.csv", "secret.txt")
    fake_report(app, "2026-09", "report.html", "calls.csv")
    fake_report(app, "2026-08", "calls.csv")
    fake_report(app, ".2026-11-staging", "report.html")
    response = supervisor.get(path)
    # A NUL is odd input, refused before any view looks at the path.
    assert response.status_code == (400 if "%00" in path else 404)
    assert stored(app, AuditEntry) == []


# --- building a month now -------------------------------------------------------------------


def test_build_now_queues_the_months_report_once(
    app: Flask, supervisor: FlaskClient, redis: Redis
) -> None:
    response = submit(supervisor, "/console/reports", "/console/reports/build", month="2026-10")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/reports"
    html = supervisor.get("/console/reports").get_data(as_text=True)
    assert "2026-10 的报告正在生成" in html

    again = submit(supervisor, "/console/reports", "/console/reports/build", month="2026-10")
    assert again.status_code == 303
    assert "2026-10 的报告已在生成中" in supervisor.get("/console/reports").get_data(as_text=True)

    [job] = report_jobs(redis)
    assert (job.id, job.args, job.timeout) == ("report-2026-10", ("2026-10",), 1800)


def test_the_queued_build_writes_the_report_the_page_then_lists(
    app: Flask,
    supervisor: FlaskClient,
    run_jobs: Callable[[], int],
    no_chromium: None,
) -> None:
    submit(supervisor, "/console/reports", "/console/reports/build", month="2026-10")
    run_jobs()
    html = supervisor.get("/console/reports").get_data(as_text=True)
    assert listed_months(html) == ["2026-10"]
    with supervisor.get("/console/reports/2026-10/calls.csv") as download:
        assert download.status_code == 200


def test_a_month_already_built_is_not_queued_again(
    app: Flask, supervisor: FlaskClient, redis: Redis
) -> None:
    fake_report(app, "2026-10", "report.html", "calls.csv")
    response = submit(supervisor, "/console/reports", "/console/reports/build", month="2026-10")
    assert response.status_code == 303
    assert "2026-10 的报告已生成" in supervisor.get("/console/reports").get_data(as_text=True)
    assert report_jobs(redis) == []


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-11", console_reports.NOT_ENDED),  # still running on the 23rd
        ("2027-01", console_reports.NOT_ENDED),
        ("2026-13", "'2026-13' is not a month like 2026-11"),
        ("../2026-10", "'../2026-10' is not a month like 2026-11"),
        ("", "'' is not a month like 2026-11"),
    ],
)
def test_a_month_that_cannot_be_built_answers_400_with_the_reason(
    supervisor: FlaskClient, redis: Redis, month: str, message: str
) -> None:
    response = submit(supervisor, "/console/reports", "/console/reports/build", month=month)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    problem = re.search(r'id="build-problem">无法生成：([^<]*)', html)
    assert problem is not None
    assert problem.group(1).strip().replace("&#39;", "'") == message
    assert report_jobs(redis) == []


def test_without_redis_the_build_is_refused_politely(
    supervisor: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> bool:
        raise RedisConnectionError("down")

    monkeypatch.setattr(console_reports, "enqueue_report", refuse)
    response = submit(supervisor, "/console/reports", "/console/reports/build", month="2026-10")
    assert response.status_code == 503
    assert "暂时无法安排生成" in response.get_data(as_text=True)


def test_build_now_needs_the_forms_token(supervisor: FlaskClient, redis: Redis) -> None:
    response = supervisor.post("/console/reports/build", data={"month": "2026-10"})
    assert response.status_code == 400
    assert report_jobs(redis) == []


# --- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/reports", "/console/reports/2026-10/report.html"])
def test_only_supervisors_and_admins_see_reports(
    app: Flask, client: FlaskClient, make_user: MakeUser, path: str
) -> None:
    fake_report(app, "2026-10", "report.html")
    assert_role_checks(client, make_user, path)


def test_an_agent_cannot_build_a_report(
    client: FlaskClient, make_user: MakeUser, redis: Redis
) -> None:
    make_user("agent1")
    log_in(client, "agent1")
    token = page_token(client, "/desk/")
    response = client.post("/console/reports/build", data={"csrf_token": token, "month": "2026-10"})
    assert response.status_code == 403
    assert report_jobs(redis) == []
