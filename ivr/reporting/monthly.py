"""The monthly report (R11: 每月的事务统计、分析、汇报): one folder with report.html, calls.csv
and, where headless Chromium is installed, report.pdf.

The HTML stands alone — inline CSS, inline SVG charts, no script, no URL — so it can be
mailed, archived or opened from the console as it is. The CSV is the month's call register
with phone numbers masked, UTF-8 with a BOM so Excel reads the Chinese. Each file is
written under a temporary name and renamed into place, so nobody reads half a report.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import DateTime, String, select, type_coerce
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.core import labels
from ivr.core.clock import Clock
from ivr.core.labels import Label
from ivr.models import Call
from ivr.registry.privacy import mask_number
from ivr.reporting import charts
from ivr.reporting.kpi import Kpis, Ratio, kpis
from ivr.reporting.notable import Notable, notable
from ivr.reporting.periods import Period
from ivr.reporting.targets import KPI_NAMES, check_targets, definitions
from ivr.store.db import Database
from ivr.tickets.lifecycle import service_levels

log = logging.getLogger(__name__)

HTML_NAME, CSV_NAME, PDF_NAME = "report.html", "calls.csv", "report.pdf"
REPORT_DUE_AFTER = timedelta(hours=6)  # last month's report is built from 06:00 on the 1st
PDF_TIMEOUT_S = 180
CSV_BATCH = 5000

# The desk's words for categories, outcomes and tickets, plus what only a report meets.
CATEGORIES: Mapping[str, Label] = {**labels.CATEGORIES, "": ("未分类", "Unclassified")}
OUTCOMES: Mapping[str, Label] = {**labels.OUTCOMES, "": ("进行中", "In progress")}
RATINGS = labels.RATINGS
DIRECTIONS = {"inbound": "呼入", "outbound": "呼出"}
CALL_STATUSES = {
    "queued": "排队",
    "ringing": "振铃",
    "in-progress": "通话中",
    "completed": "已结束",
    "busy": "忙",
    "failed": "失败",
    "no-answer": "无应答",
    "canceled": "已取消",
}
TARGET_NAMES: Mapping[str, Label] = KPI_NAMES
CSV_HEADER = (
    "来电时间",
    "结束时间",
    "通话编号",
    "方向",
    "来电号码",
    "房号",
    "类别",
    "内容",
    "结果",
    "处理人",
    "跟进",
    "状态",
    "时长(秒)",
    "队列",
    "问候应答(毫秒)",
    "满意度",
)


@dataclass(frozen=True)
class ReportFiles:
    directory: Path
    html: Path
    csv: Path
    pdf: Path | None
    notes: list[str] = field(default_factory=list)  # e.g. why there is no PDF


def build_report(
    db: Database,
    month: Period | str,
    out_dir: Path,
    settings: Settings,
    clock: Clock,
    *,
    pdf: bool = True,
) -> ReportFiles:
    """Write the month's report.html, calls.csv and (Chromium permitting) report.pdf."""
    period = month if isinstance(month, Period) else Period.parse_month(month, settings.timezone)
    out_dir.mkdir(parents=True, exist_ok=True)
    with db.reader() as session:
        figures = kpis(session, period, settings, now=clock.now())
        worth_a_look = notable(session, period, settings)
    html_path = out_dir / HTML_NAME
    page = render_report(figures, worth_a_look, settings, clock.now())
    with _replacing(html_path, encoding="utf-8") as out:
        out.write(page)
    csv_path = out_dir / CSV_NAME
    with db.reader() as session, _replacing(csv_path, encoding="utf-8-sig", newline="") as out:
        write_calls_csv(session, period, settings.timezone, out)
    pdf_path, notes = print_pdf(html_path, out_dir / PDF_NAME) if pdf else (None, [])
    return ReportFiles(out_dir, html_path, csv_path, pdf_path, notes)


@contextmanager
def _replacing(path: Path, **open_args: Any) -> Iterator[TextIO]:
    """Write next to `path`, then rename over it: readers see the old file or the new one."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", **open_args) as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# --- the page -----------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ivr", "templates/report"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=percent, ratio=ratio_text, when=when, label=label, seconds=seconds)
    return env


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def ratio_text(ratio: Ratio) -> str:
    return f"{percent(ratio.value)}（{ratio.hits}/{ratio.total}）" if ratio.total else "—"


def when(moment: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
    return moment.strftime(pattern) if moment else "—"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def label(names: Label) -> Markup:
    """Chinese first, English after, as on the staff pages."""
    chinese, english = names
    return Markup('{}<span class="en" lang="en">{}</span>').format(chinese, english)


def _named(table: Mapping[str, Label], key: str) -> Label:
    return table.get(key, (key, key))


def render_report(
    figures: Kpis, worth_a_look: Notable, settings: Settings, generated_at: datetime
) -> str:
    template = _environment().get_template("monthly.html")
    return template.render(
        hotline_name=settings.hotline_name,
        period=figures.period,
        generated_at=generated_at.astimezone(settings.timezone),
        k=figures,
        notable=worth_a_look,
        checks=check_targets(figures),
        charts=_charts(figures),
        categories=CATEGORIES,
        outcomes=OUTCOMES,
        ratings=RATINGS,
        ticket_kinds=labels.TICKET_KINDS,
        ticket_statuses=labels.TICKET_STATUSES,
        ticket_categories=labels.TICKET_CATEGORIES,
        target_names=TARGET_NAMES,
        definitions=definitions(figures.targets),
        levels=service_levels().complaint_levels,
        peak_hour=_peak_hour(figures.per_hour),
        named=_named,
    )


def _charts(figures: Kpis) -> dict[str, Markup]:
    categories = {
        " ".join(_named(CATEGORIES, key)): count for key, count in figures.by_category.items()
    }
    outcomes = {" ".join(_named(OUTCOMES, key)): count for key, count in figures.by_outcome.items()}
    ratings = {" ".join(RATINGS[r]): count for r, count in figures.satisfaction.items()}
    svgs = {
        "per_day": charts.daily_volume_chart(figures.per_day),
        "per_hour": charts.hourly_volume_chart(figures.per_hour),
        "categories": charts.horizontal_bar_chart("categories", "来电类别 Categories", categories),
        "outcomes": charts.horizontal_bar_chart("outcomes", "处理结果 Outcomes", outcomes),
        "satisfaction": charts.satisfaction_chart(ratings),
    }
    # Our own SVG, built from numbers and our labels: safe to place in the page as it is.
    return {name: Markup(svg) for name, svg in svgs.items()}  # noqa: S704


def _peak_hour(per_hour: list[int]) -> int | None:
    busiest = max(per_hour, default=0)
    return per_hour.index(busiest) if busiest else None


# --- the register as CSV ----------------------------------------------------------------------

PHONE_IN_TEXT = re.compile(r"\+?\d{7,}")


def mask_phones_in(text: str) -> str:
    """Numbers a caller keyed in or said (a call-back number, say) masked inside free text."""
    return PHONE_IN_TEXT.sub(lambda match: mask_number(match[0]), text)


def write_calls_csv(session: Session, period: Period, zone: tzinfo, out: TextIO) -> int:
    """Every call of the period, oldest first, streamed in batches; returns how many."""
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    query = (
        select(*CSV_COLUMNS)
        .where(period.contains(Call.started_at))
        .order_by(Call.started_at, Call.id)
        .execution_options(yield_per=CSV_BATCH)
    )
    written = 0
    for row in session.connection().execute(query):
        writer.writerow(_csv_row(row, zone))
        written += 1
    return written


def _raw(column: Any, kind: Any) -> Any:
    """A column as the driver returns it: a month of rows skips the models' conversions."""
    return type_coerce(column, kind).label(column.key)


_CALLS = Call.__table__.c
CSV_COLUMNS = (
    _raw(_CALLS.started_at, DateTime(timezone=True)),
    _raw(_CALLS.ended_at, DateTime(timezone=True)),
    _CALLS.call_sid,
    _CALLS.direction,
    _CALLS.caller_number,
    _CALLS.unit,
    _raw(_CALLS.category, String()),
    _CALLS.content,
    _raw(_CALLS.outcome, String()),
    _CALLS.handler,
    _CALLS.follow_up,
    _raw(_CALLS.status, String()),
    _CALLS.duration_s,
    _CALLS.queue,
    _CALLS.greeting_ms,
    _CALLS.satisfaction,
)


def _local_text(moment: datetime | None, zone: tzinfo) -> str:
    """SQLite hands back UTC without a zone, PostgreSQL with one."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _csv_row(row: Any, zone: tzinfo) -> list[str]:
    (started, ended, sid, direction, caller, unit, category, content, outcome) = row[:9]
    (handler, follow_up, status, duration, queue, greeting_ms, satisfaction) = row[9:]
    return [
        _local_text(started, zone),
        _local_text(ended, zone),
        sid,
        DIRECTIONS.get(direction, direction),
        mask_number(caller),
        unit or "",
        _named(CATEGORIES, category or "")[0],
        mask_phones_in(content) if content else "",
        _named(OUTCOMES, outcome or "")[0],
        handler or "",
        mask_phones_in(follow_up) if follow_up else "",
        CALL_STATUSES.get(status, status),
        "" if duration is None else str(duration),
        queue or "",
        "" if greeting_ms is None else f"{greeting_ms:.0f}",
        RATINGS[satisfaction][0] if satisfaction in RATINGS else "",
    ]


# --- PDF --------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Headless Chromium prints the PDF; Debian's `chromium` package is enough."""
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def print_pdf(html: Path, pdf: Path, chromium: str | None = None) -> tuple[Path | None, list[str]]:
    """Print the page to PDF with headless Chromium; without it, say so and go on."""
    browser = chromium or find_chromium()
    if browser is None:
        return None, ["PDF skipped: Chromium is not installed (apt-get install chromium)"]
    partial = pdf.with_name(f".{pdf.name}.partial")
    with tempfile.TemporaryDirectory(prefix="ivr-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            partial.unlink(missing_ok=True)
            return None, [f"PDF not made: Chromium did not finish ({exc})"]
    if done.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        log.warning("chromium failed: %s", done.stderr.decode(errors="replace")[-2000:])
        return None, [f"PDF not made: Chromium exited with {done.returncode}"]
    os.replace(partial, pdf)
    return pdf, []


# --- the scheduled build ------------------------------------------------------------------------


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def month_due(now: datetime, zone: tzinfo) -> Period:
    """The month whose report is due: from 06:00 on the 1st, the month that just ended."""
    anchor = (now.astimezone(zone) - REPORT_DUE_AFTER).astimezone(zone)
    return Period.month(anchor.year, anchor.month, zone).previous()


def available_reports(settings: Settings) -> list[str]:
    """The months with a finished report, newest first (for the console's downloads)."""
    folder = reports_dir(settings)
    if not folder.is_dir():
        return []
    months = [path.name for path in folder.iterdir() if (path / HTML_NAME).is_file()]
    return sorted((m for m in months if not m.startswith(".")), reverse=True)


def build_scheduled_report(
    db: Database, settings: Settings, clock: Clock, month: str | None = None
) -> Path | None:
    """Build a month's report into <IVR_DATA_DIR>/reports/YYYY-MM/ once: a finished folder
    is left as it is (None is returned), so re-runs and a second worker change nothing."""
    zone = settings.timezone
    period = Period.parse_month(month, zone) if month else month_due(clock.now(), zone)
    target = reports_dir(settings) / period.label
    if (target / HTML_NAME).is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{period.label}-", dir=target.parent))
    try:
        files = build_report(db, period, staging, settings, clock)
        for note in files.notes:
            log.info("report %s: %s", period.label, note)
        _move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _move_into_place(staging: Path, target: Path) -> None:
    """The folder appears whole; if another worker finished first, its report stands."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    try:
        staging.rename(target)
    except OSError:
        if not (target / HTML_NAME).is_file():
            raise
