"""The console's monthly reports (R11): the months built under <IVR_DATA_DIR>/reports/, their
files to download, and "build now" for a month that has ended but has no report yet.

Downloads are looked up, never joined from the URL: the month must be one
`available_reports` lists and the file one of the three names a report has. Each download
is written to the audit log, as exports of the call log are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from flask import abort, flash, redirect, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job

from ivr.config import Settings
from ivr.console.calls import audit
from ivr.console.home import add_to_navigation, console
from ivr.core import labels
from ivr.models import AuditAction
from ivr.queues import (
    MONTHLY_REPORT_JOB,
    REPORT_JOB_TIMEOUT_S,
    STILL_TO_RUN,
    TICKETS_JOB,
    tickets_queue,
)
from ivr.reporting.monthly import CSV_NAME, HTML_NAME, PDF_NAME, available_reports, reports_dir
from ivr.reporting.periods import Period
from ivr.services import services
from ivr.web.access import CONSOLE_ROLES, require_role

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
FILE_NAMES = (HTML_NAME, CSV_NAME, PDF_NAME)
FILE_LABELS = labels.REPORT_FILES
MIMETYPES = {HTML_NAME: "text/html", CSV_NAME: "text/csv", PDF_NAME: "application/pdf"}
# The report is one standalone page with inline CSS and SVG: shown as it is, with nothing
# else allowed, and sandboxed so it could never run a script.
REPORT_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
)
NOT_ENDED = "only a month that has ended can be built: its report would stop there"

add_to_navigation("console.reports", "月度报告", "Monthly reports")


@dataclass(frozen=True)
class MonthReport:
    month: str
    files: list[str]  # in FILE_NAMES order


def month_reports(settings: Settings) -> list[MonthReport]:
    """Every finished month, newest first, with the files it has."""
    folder = reports_dir(settings)
    return [
        MonthReport(month, [name for name in FILE_NAMES if (folder / month / name).is_file()])
        for month in available_reports(settings)
    ]


def render_reports(problem: str = "", status: int = 200) -> ResponseReturnValue:
    found = services()
    return render_template(
        "console_reports.html",
        reports=month_reports(found.settings),
        problem=problem,
        last_month=last_month(found.clock.now(), found.settings.timezone),
        chosen=request.form,
        file_labels=FILE_LABELS,
    ), status


@console.get("/reports")
@require_role(*CONSOLE_ROLES)
def reports() -> ResponseReturnValue:
    return render_reports()


# --- downloads ------------------------------------------------------------------------------


def report_file(settings: Settings, month: str, name: str) -> Path | None:
    """The file, if `month` and `name` are ones the report folder really has."""
    if not MONTH.fullmatch(month) or name not in FILE_NAMES:
        return None
    if month not in available_reports(settings):
        return None
    path = reports_dir(settings) / month / name
    return path if path.is_file() else None


@console.get("/reports/<month>/<name>")
@require_role(*CONSOLE_ROLES)
def report_download(month: str, name: str) -> ResponseReturnValue:
    found = services()
    path = report_file(found.settings, month, name)
    if path is None:
        abort(404)
    with found.db.session() as session:
        audit(session, AuditAction.EXPORT_CALLS, detail=f"report {month}/{name}")
    response = send_from_directory(
        path.parent,
        path.name,
        mimetype=MIMETYPES[name],
        as_attachment=name != HTML_NAME,
        download_name=f"{month}-{name}",
    )
    if name == HTML_NAME:
        response.headers["Content-Security-Policy"] = REPORT_PAGE_POLICY
    return response


# --- building a month now -------------------------------------------------------------------


def last_month(now: datetime, zone: tzinfo) -> str:
    today = now.astimezone(zone).date()
    return Period.month(today.year, today.month, zone).previous().label


def month_to_build(raw: str, now: datetime, zone: tzinfo) -> str:
    """The month asked for, if it has ended; ValueError with the reason otherwise."""
    month = raw.strip()
    if not MONTH.fullmatch(month):
        raise ValueError(f"{month!r} is not a month like 2026-11")
    period = Period.parse_month(month, zone)
    if period.end > now:
        raise ValueError(NOT_ENDED)
    return month


def report_job_id(month: str) -> str:
    return f"report-{month}"


def enqueue_report(redis: Redis, month: str) -> bool:
    """Ask a worker to build the month's report; False when a build of it is already on its
    way. The job leaves a finished report alone, so a repeat could change nothing anyway."""
    for _ in range(2):  # a second collision means another click enqueued it just now
        try:
            tickets_queue(redis).enqueue(
                MONTHLY_REPORT_JOB,
                month,
                job_id=report_job_id(month),
                unique=True,
                job_timeout=REPORT_JOB_TIMEOUT_S,
                result_ttl=0,
                failure_ttl=TICKETS_JOB["failure_ttl"],
            )
            return True
        except DuplicateJobError:
            if not cleared(redis, report_job_id(month)):
                return False
    return False


def cleared(redis: Redis, job_id: str) -> bool:
    """Remove an earlier build that will not run again (a failure kept for inspection)."""
    try:
        earlier = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return True
    if earlier.get_status(refresh=False) in STILL_TO_RUN:
        return False
    earlier.delete()
    return True


@console.post("/reports/build")
@require_role(*CONSOLE_ROLES)
def build_report_now() -> ResponseReturnValue:
    found = services()
    try:
        month = month_to_build(
            request.form.get("month", ""), found.clock.now(), found.settings.timezone
        )
    except ValueError as problem:
        return render_reports(str(problem), 400)
    if month in available_reports(found.settings):
        flash(f"{month} 的报告已生成。 · The report for {month} is ready.")
        return redirect(url_for("console.reports"), code=303)
    try:
        queued = enqueue_report(found.redis, month)
    except RedisError:
        return render_reports("暂时无法安排生成，请稍后再试。 · Cannot queue the build now.", 503)
    flash(
        f"{month} 的报告正在生成，几分钟后刷新本页。 · Building {month}: reload in a few minutes."
        if queued
        else f"{month} 的报告已在生成中。 · {month} is already being built."
    )
    return redirect(url_for("console.reports"), code=303)
