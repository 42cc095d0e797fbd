"""The console's KPI page: the period asked for, each KPI against its target, the charts
(inline SVG without inline styles, whose styles come from one stylesheet), bad periods
answered 400, and who may open it."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.console.kpis import chart_figures, draw_charts, styles_of
from ivr.core.clock import FrozenClock
from ivr.models import User
from ivr.reporting.kpi import kpis
from ivr.reporting.periods import Period
from ivr.services import services
from tests.conftest import SHANGHAI
from tests.reporting.test_kpi import local, seed_month
from tests.web_client import assert_role_checks, page_html

MakeUser = Callable[..., User]
CHART_NAMES = ("per-day", "per-hour", "categories", "outcomes", "escalations", "satisfaction")


@pytest.fixture
def november(app: Flask, clock: FrozenClock) -> Flask:
    """The hand-made month of tests/reporting/test_kpi.py, seen from December when all is judged."""
    with app.app_context(), services().db.session() as session:
        seed_month(session)
    clock.set(local(12, 5, 10))
    return app


def kpi_rows(html: str) -> dict[str, tuple[str, str, str]]:
    """Each KPI's (met, value shown, target shown)."""
    rows = re.findall(
        r'data-kpi="(\w+)" data-met="(\w+)">.*?<span class="kpi-value">([^<]*)</span>'
        r'.*?<td class="num">([^<]*)</td>',
        html,
        re.DOTALL,
    )
    return {key: (met, value, html_lib.unescape(target)) for key, met, value, target in rows}


def chart_svg(html: str, name: str) -> str:
    found = re.search(rf'<svg id="chart-{name}".*?</svg>', html, re.DOTALL)
    assert found, f"no chart {name}"
    return found.group(0)


def bars(svg: str) -> int:
    """Bars drawn with a length: pygal draws a zero as a bar of none."""
    sizes = re.findall(r'width="([\d.]+)" height="([\d.]+)" class="rect reactive', svg)
    return sum(1 for width, height in sizes if float(width) > 0 and float(height) > 0)


def page(client: FlaskClient, query: str = "") -> str:
    return page_html(client, f"/console/kpis{query}")


@pytest.mark.parametrize("path", ["/console/kpis", "/console/kpis/charts.css"])
def test_only_supervisors_and_admins_see_the_kpis(
    client: FlaskClient, make_user: MakeUser, path: str
) -> None:
    assert_role_checks(client, make_user, path)


def test_the_month_against_its_targets(november: Flask, supervisor: FlaskClient) -> None:
    html = page(supervisor, "?month=2026-11")
    assert '<span id="kpi-period">2026-11</span>' in html
    assert kpi_rows(html) == {
        "answer_rate": ("false", "85.7 %", "≥ 95 %"),
        "abandonment": ("false", "14.3 %", "≤ 5 %"),
        "three_ring": ("false", "85.7 %", "≥ 99 %"),
        "service_level": ("false", "33.3 %", "≥ 80 %"),
        "first_call_resolution": ("false", "60.0 %", "≥ 80 %"),
        "repair_sla": ("false", "33.3 %", "≥ 95 %"),
        "complaint_sla": ("false", "50.0 %", "≥ 95 %"),
        "satisfaction": ("false", "33.3 %", "≥ 90 %"),
        "callbacks_on_time": ("false", "25.0 %", "≥ 95 %"),
    }
    assert '<span class="fraction">6/7</span>' in html
    assert re.search(r'id="tile-calls"><span class="tile-value">8</span>', html)
    assert '<span id="kpi-trend">+700 %</span>' in html
    assert re.search(r'id="tile-asa"><span class="tile-value">30<small> s</small>', html)
    assert html.count('<meter min="0" max="1"') == 9
    assert '<strong class="missed">未达标' in html


def test_the_page_says_how_each_kpi_is_counted(november: Flask, supervisor: FlaskClient) -> None:
    html = html_lib.unescape(page(supervisor, "?month=2026-11"))
    start = html.index('id="kpi-definitions"')
    definitions = html[start : html.index("</details>", start)]
    assert definitions.count("<dt>") == 9
    assert "问候语网络应答在 3000 毫秒内的来电比例。" in definitions
    assert "within 20 s; hang-ups, messages and callbacks count as missed." in definitions


def test_the_charts_are_drawn_from_the_periods_figures(
    november: Flask, supervisor: FlaskClient
) -> None:
    html = page(supervisor, "?month=2026-11")
    assert bars(chart_svg(html, "per-day")) == 6  # six days with calls
    assert bars(chart_svg(html, "per-hour")) == 6
    assert bars(chart_svg(html, "categories")) == 4
    assert bars(chart_svg(html, "escalations")) == 2  # levels 1 and 3 reached; 2 is empty
    assert len(re.findall(r'class="slice reactive', chart_svg(html, "satisfaction"))) == 3
    assert "投诉最高升级级别" in chart_svg(html, "escalations")


def test_the_page_has_no_inline_style_or_script_for_its_policy_to_refuse(
    november: Flask, supervisor: FlaskClient
) -> None:
    html = page(supervisor, "?month=2026-11")
    assert [name for name in CHART_NAMES if f'<svg id="chart-{name}"' in html] == list(CHART_NAMES)
    assert "<style" not in html
    assert not re.search(r'\sstyle="', html)
    assert "<script" not in html
    assert '<link rel="stylesheet" href="/console/kpis/charts.css">' in html


def test_the_chart_stylesheet_holds_every_charts_styles(
    november: Flask, supervisor: FlaskClient
) -> None:
    response = supervisor.get("/console/kpis/charts.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    sheet = response.get_data(as_text=True)
    with november.app_context(), services().db.reader() as session:
        figures = kpis(session, Period.month(2026, 11, SHANGHAI), services().settings)
    drawn = draw_charts(chart_figures(figures))
    for svg in drawn.values():
        [css] = styles_of(svg)
        assert css in sheet
    assert "#chart-per-day .axis text{" in sheet
    assert ".graph > .background" in sheet  # unescaped: a stylesheet is not XML
    assert ".pygal-chart .tooltip { opacity: 0; }" in sheet


def test_without_a_period_it_is_this_month_to_date(supervisor: FlaskClient) -> None:
    html = page(supervisor)
    assert '<span id="kpi-period">2026-11-01 – 2026-11-23</span>' in html
    assert 'id="period-from" name="from" type="date" value="2026-11-01"' in html
    assert 'id="period-to" name="to" type="date" value="2026-11-23"' in html
    assert re.search(r'id="last-month" href="/console/kpis\?month=2026-10"', html)


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("?from=2026-11-10&to=2026-11-12", "2026-11-10 – 2026-11-12"),
        ("?from=2026-11-10", "2026-11-10 – 2026-11-23"),
        ("?to=2026-10-15", "2026-10-01 – 2026-10-15"),
        ("?from=2026-12-01&to=2026-12-31", "2026-12"),
        ("?from=2026-11-20&to=2026-11-20", "2026-11-20 – 2026-11-20"),
    ],
)
def test_dates_choose_the_days_both_included(
    supervisor: FlaskClient, query: str, label: str
) -> None:
    assert f'<span id="kpi-period">{label}</span>' in page(supervisor, query)


def test_a_quiet_period_has_nothing_to_judge_and_still_draws(supervisor: FlaskClient) -> None:
    html = page(supervisor, "?month=2026-06")
    assert {met for met, _, _ in kpi_rows(html).values()} == {"none"}
    assert "<meter" not in html
    assert "暂无数据 No data" in chart_svg(html, "satisfaction")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("month=2026-13", "'2026-13' is not a month like 2026-11"),
        ("month=november", "'november' is not a month like 2026-11"),
        ("month=1999-12", "'1999-12' is not a month like 2026-11"),
        ("month=2026-11&from=2026-11-01", "choose a month or dates (from, to), not both"),
        ("from=2026-11-31", "from: '2026-11-31' is not a date (YYYY-MM-DD)"),
        ("to=yesterday", "to: 'yesterday' is not a date (YYYY-MM-DD)"),
        ("from=2026-11-20&to=2026-11-10", "'to' must not be before 'from'"),
        ("from=2025-01-01&to=2026-11-23", "a period may be at most 366 days"),
        ("from=9999-12-31", "from must fall between 2000 and 2100"),
    ],
)
def test_a_period_that_cannot_be_used_answers_400_with_the_reason(
    supervisor: FlaskClient, query: str, message: str
) -> None:
    response = supervisor.get(f"/console/kpis?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    problem = re.search(r'id="period-problem">时间段有误：([^<]*)', html)
    assert problem is not None
    assert html_lib.unescape(problem.group(1)).strip() == message
    assert 'id="month-form"' in html
    assert 'id="dates-form"' in html
    assert 'id="kpi-table"' not in html
