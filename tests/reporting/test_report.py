"""The monthly report (R11): `ivr report`, its files, and the job that builds it on the 1st."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from redis import Redis

from ivr.cli import main
from ivr.core.clock import FrozenClock
from ivr.queues import tickets_queue
from ivr.reporting import monthly as report
from ivr.reporting.charts import bar_chart, count_ticks, satisfaction_chart
from ivr.reporting.monthly import CSV_HEADER, build_report, find_chromium
from ivr.services import services
from tests.reporting.test_kpi import CALLS, Hotline, local, opened, seed_month
from worker.jobs import build_monthly_report

EXTERNAL_URL = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
FIRST_OF_DECEMBER = local(12, 1, 6)


def november_clock() -> FrozenClock:
    return FrozenClock(FIRST_OF_DECEMBER)


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`ivr` run as a supervisor would, against the test database; returns the data folder."""
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "IVR_API_TOKEN", "IVR_ENV"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


@pytest.fixture
def empty_month(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Hotline]:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    with opened(database_url) as hotline:
        yield hotline


@pytest.fixture
def november(empty_month: Hotline) -> Hotline:
    """The hand-made month of tests/reporting/test_kpi.py, whose every figure is known."""
    with empty_month.db.session() as session:
        seed_month(session)
    return empty_month


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "find_chromium", lambda: None)


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8 Chinese
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_the_command_writes_the_page_and_the_register(
    cli_env: Path, november: Hotline, tmp_path: Path, no_chromium: None
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "--month", "2026-11", "--out", str(out)])
    assert (result.exit_code, result.output) == (
        0,
        f"wrote {out / 'report.html'}\nwrote {out / 'calls.csv'}\n"
        "PDF skipped: Chromium is not installed (apt-get install chromium)\n",
    )
    assert sorted(path.name for path in out.iterdir()) == ["calls.csv", "report.html"]
    rows = read_csv(out / "calls.csv")
    assert rows[0] == list(CSV_HEADER)
    assert [(r[0], r[2], r[3], r[4], r[6], r[8]) for r in rows[1:4]] == [
        ("2026-11-02 09:10:00", "CA_A", "呼入", "138****8000", "报修", "自助完成"),
        ("2026-11-02 09:40:00", "CA_B", "呼入", "139****9000", "投诉", "人工接听"),
        ("2026-11-03 14:05:00", "CA_C", "呼入", "137****7000", "咨询", "人工接听"),
    ]
    assert [r[2] for r in rows[1:]] == [
        "CA_A", "CA_B", "CA_C", "CA_D", "CA_E", "CA_I", "CA_J", "CA_K", "CA_F",
    ]  # fmt: skip
    assert rows[1][7] == "step3: entered 138****5678"  # a number keyed in is masked too
    everything = (out / "calls.csv").read_text("utf-8-sig") + (out / "report.html").read_text()
    for call in CALLS:  # no caller's number in full, anywhere
        assert call.caller.removeprefix("+86") not in everything


def test_the_page_stands_alone_and_shows_the_month(november: Hotline, tmp_path: Path) -> None:
    files = build_report(
        november.db,
        "2026-11",
        tmp_path,
        november.settings,
        november_clock(),
        pdf=False,
    )
    page = files.html.read_text(encoding="utf-8")
    assert not EXTERNAL_URL.search(page)
    assert [tag for tag in ("http://", "https://", "<script", "<link") if tag in page] == []
    assert page.count("<svg") == 5  # per day, categories, outcomes, per hour, ratings
    sections = ("volume", "categories", "hours", "kpis", "sla", "complaints", "satisfaction")
    for section in (*sections, "notable"):
        assert f'<section id="{section}">' in page
    assert "85.7 %（6/7）" in page  # answer rate
    assert "生成于 2026-12-01 06:00" in page
    assert "139****9000" in page


def test_the_same_month_gives_the_same_files(november: Hotline, tmp_path: Path) -> None:
    clock = november_clock()
    first = build_report(
        november.db, "2026-11", tmp_path / "a", november.settings, clock, pdf=False
    )
    second = build_report(
        november.db, "2026-11", tmp_path / "b", november.settings, clock, pdf=False
    )
    assert first.html.read_bytes() == second.html.read_bytes()
    assert first.csv.read_bytes() == second.csv.read_bytes()


def test_an_empty_month_still_makes_a_report(empty_month: Hotline, tmp_path: Path) -> None:
    files = build_report(
        empty_month.db,
        "2026-11",
        tmp_path,
        empty_month.settings,
        november_clock(),
        pdf=False,
    )
    assert read_csv(files.csv) == [list(CSV_HEADER)]
    page = files.html.read_text(encoding="utf-8")
    assert "本月无来电。" in page
    assert "无数据 No data" in page


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_the_pdf_is_printed_when_chromium_is_there(november: Hotline, tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = build_report(november.db, "2026-11", out, november.settings, november_clock())
    assert (files.pdf, files.notes) == (out / "report.pdf", [])
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert sorted(path.name for path in out.iterdir()) == ["calls.csv", "report.html", "report.pdf"]


@pytest.mark.parametrize("text", ["2026-13", "11-2026", "soon", "2026-11-01"])
def test_a_month_that_is_not_one_exits_2(cli_env: Path, tmp_path: Path, text: str) -> None:
    result = CliRunner().invoke(main, ["report", "--month", text, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert f"Invalid value for '--month': {text!r} is not a month like 2026-11" in result.output
    assert not (tmp_path / "x").exists()


def test_charts_are_self_contained_and_repeatable() -> None:
    first = bar_chart("calls", "来电", ["01", "02"], [3, 0])
    assert first == bar_chart("calls", "来电", ["01", "02"], [3, 0])
    assert 'id="chart-calls"' in first
    assert [tag for tag in ("<script", "http", "<!--") if tag in first] == []
    assert "http" not in satisfaction_chart({"满意": 0, "一般": 0, "不满意": 0})


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(0, [0, 1]), (2, [0, 1, 2]), (9, [0, 2, 4, 6, 8, 10]), (3456, list(range(0, 4000, 500)))],
)
def test_count_axes_have_whole_numbers(top: int, ticks: list[int]) -> None:
    assert count_ticks(top) == ticks


# --- the scheduled build ---------------------------------------------------------------------


def month_folders(app: Flask) -> list[str]:
    with app.app_context():
        folder = services().settings.data_dir / "reports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def report_files(app: Flask, month_name: str) -> dict[str, tuple[bytes, int]]:
    with app.app_context():
        folder = services().settings.data_dir / "reports" / month_name
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture
def seeded_app(app: Flask) -> Flask:
    with app.app_context(), services().db.session() as session:
        seed_month(session)
    return app


@pytest.mark.parametrize(
    ("now", "built"),
    [(local(12, 1, 5, 59), "2026-10"), (local(12, 1, 6), "2026-11"), (local(12, 17, 3), "2026-11")],
)
def test_the_job_builds_the_month_that_ended_from_six_on_the_first(
    seeded_app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: Callable[[], int],
    no_chromium: None,
    now: datetime,
    built: str,
) -> None:
    clock.set(now)
    tickets_queue(redis).enqueue(build_monthly_report)
    assert run_jobs() == 1
    assert month_folders(seeded_app) == [built]
    assert sorted(report_files(seeded_app, built)) == ["calls.csv", "report.html"]


def test_the_job_run_twice_leaves_the_same_files(
    seeded_app: Flask,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: Callable[[], int],
    no_chromium: None,
) -> None:
    clock.set(FIRST_OF_DECEMBER)
    for _ in range(2):
        tickets_queue(redis).enqueue(build_monthly_report)
    assert run_jobs() == 2
    before = report_files(seeded_app, "2026-11")
    with seeded_app.app_context():
        assert build_monthly_report() is None  # built already: nothing to do
        assert build_monthly_report("2026-11") is None
    assert report_files(seeded_app, "2026-11") == before
    assert month_folders(seeded_app) == ["2026-11"]  # and no staging folder left behind
    rows = read_csv(services_data_dir(seeded_app) / "reports" / "2026-11" / "calls.csv")
    assert len(rows) == 10


def services_data_dir(app: Flask) -> Path:
    with app.app_context():
        return Path(services().settings.data_dir)


def test_the_console_lists_finished_reports(seeded_app: Flask, no_chromium: None) -> None:
    with seeded_app.app_context():
        for month_name in ("2026-10", "2026-11"):
            build_monthly_report(month_name)
        assert report.available_reports(services().settings) == ["2026-11", "2026-10"]
