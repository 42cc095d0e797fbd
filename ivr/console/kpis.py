"""The console's KPIs (R11: 接听率, 解决率, satisfaction) for a chosen period: each figure
against its target (ivr/reporting/kpi_targets.yaml), and charts drawn on the server.

The figures are the monthly report's (`ivr.reporting.kpi.kpis`). The charts are the report's pygal
SVG, placed in the page as they are but for their styles: the console's Content-Security-
Policy refuses inline styles, so each chart's `<style>` is served from /console/kpis/charts.css.
A chart's styles depend on its name and kind only, never on the figures, so that sheet is
drawn once from empty charts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from functools import cache

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from ivr.console.board import display_helpers
from ivr.console.home import add_to_navigation, console
from ivr.core.labels import Label
from ivr.reporting import charts
from ivr.reporting.kpi import Kpis, Ratio, kpis
from ivr.reporting.monthly import CATEGORIES, OUTCOMES, RATINGS, TARGET_NAMES, percent
from ivr.reporting.periods import Period
from ivr.reporting.targets import check_targets, definitions, ratios
from ivr.services import services
from ivr.store.filters import FilterError
from ivr.tickets.lifecycle import service_levels
from ivr.web.access import CONSOLE_ROLES, require_role

LONGEST_PERIOD_DAYS = 366
FIRST_YEAR, LAST_YEAR = 2000, 2100
STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL)
STYLE_ATTRIBUTE = re.compile(r'(<[^<>]*?)\s+style="[^"]*"')
# pygal hides its tooltip with a style attribute, which the page may not use.
HIDDEN_TOOLTIP = ".pygal-chart .tooltip { opacity: 0; }"

add_to_navigation("console.kpis", "关键指标", "KPIs")


# --- the period -----------------------------------------------------------------------------


def requested_period(args: Mapping[str, str], zone: tzinfo, today: date) -> Period:
    """`?month=2026-11`, or `?from=…&to=…` (days, both included); this month to date when
    neither is given. A FilterError says what cannot be used."""
    month = args.get("month", "").strip()
    first_text, last_text = args.get("from", "").strip(), args.get("to", "").strip()
    if month and (first_text or last_text):
        raise FilterError("choose a month or dates (from, to), not both")
    if month:
        return whole_month(month, zone)
    if not first_text and not last_text:
        return Period.between(today.replace(day=1), today, zone)
    last = calendar_day(last_text, "to") if last_text else None
    first = calendar_day(first_text, "from") if first_text else None
    first = first or (last or today).replace(day=1)
    last = last or max(first, today)
    return bounded(first, last, zone)


def whole_month(text: str, zone: tzinfo) -> Period:
    try:
        period = Period.parse_month(text, zone)
    except ValueError as exc:
        raise FilterError(f"{text!r} is not a month like 2026-11") from exc
    if not FIRST_YEAR <= period.start.year <= LAST_YEAR:
        raise FilterError(f"month must fall between {FIRST_YEAR} and {LAST_YEAR}")
    return period


def calendar_day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise FilterError(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise FilterError(f"{name} must fall between {FIRST_YEAR} and {LAST_YEAR}")
    return day


def bounded(first: date, last: date, zone: tzinfo) -> Period:
    if last < first:
        raise FilterError("'to' must not be before 'from'")
    if (last - first).days >= LONGEST_PERIOD_DAYS:
        raise FilterError(f"a period may be at most {LONGEST_PERIOD_DAYS} days")
    return Period.between(first, last, zone)


# --- the figures against their targets ------------------------------------------------------


@dataclass(frozen=True)
class KpiLine:
    """One KPI with its target, for the page and its meter."""

    key: str
    name: Label
    ratio: Ratio | None
    value: float | None
    target: float
    at_least: bool  # False: the figure must stay at or under the target
    met: bool | None  # None: nothing to judge in the period

    @property
    def value_text(self) -> str:
        return percent(self.value)

    @property
    def target_text(self) -> str:
        return ("≥ " if self.at_least else "≤ ") + percent(self.target, 0)

    @property
    def meter_low(self) -> float:
        """The edge of the meter's bad region: a little below a floor, the ceiling itself."""
        return max(0.0, self.target - 0.1) if self.at_least else self.target

    @property
    def meter_high(self) -> float:
        return self.target if self.at_least else min(1.0, self.target * 2)


def kpi_lines(figures: Kpis) -> list[KpiLine]:
    behind = ratios(figures)
    return [
        KpiLine(
            key=check.key,
            name=TARGET_NAMES.get(check.key, (check.key, check.key)),
            ratio=behind.get(check.key),
            value=check.actual,
            target=check.target,
            at_least=check.at_least,
            met=check.met,
        )
        for check in check_targets(figures)
    ]


# --- charts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartFigures:
    """What the charts draw, in the words they show."""

    per_day: Sequence[tuple[date, int]]
    per_hour: Sequence[int]
    categories: Mapping[str, int]
    outcomes: Mapping[str, int]
    ratings: Mapping[str, int]
    escalations: Mapping[str, int] = field(default_factory=dict)


def spoken(table: Mapping[str, Label], key: str) -> str:
    return " ".join(table.get(key, (key, key)))


def chart_figures(figures: Kpis) -> ChartFigures:
    levels = service_levels().complaint_levels
    return ChartFigures(
        per_day=figures.per_day,
        per_hour=figures.per_hour,
        categories={spoken(CATEGORIES, k): n for k, n in figures.by_category.items()},
        outcomes={spoken(OUTCOMES, k): n for k, n in figures.by_outcome.items()},
        ratings={" ".join(RATINGS[r]): n for r, n in figures.satisfaction.items()},
        escalations={
            f"{level} {levels.get(level, '')}".strip(): count
            for level, count in sorted(figures.complaints_by_level.items())
        },
    )


def draw_charts(data: ChartFigures) -> dict[str, str]:
    """The page's charts as pygal draws them, by name."""
    return {
        "per_day": charts.daily_volume_chart(data.per_day),
        "per_hour": charts.hourly_volume_chart(data.per_hour),
        "categories": charts.horizontal_bar_chart(
            "categories", "来电类别 Categories", data.categories
        ),
        "outcomes": charts.horizontal_bar_chart("outcomes", "处理结果 Outcomes", data.outcomes),
        "satisfaction": charts.satisfaction_chart(data.ratings),
        "escalations": charts.bar_chart(
            "escalations",
            "投诉最高升级级别 Complaints by level reached",
            list(data.escalations),
            list(data.escalations.values()),
        ),
    }


EMPTY_CHARTS = ChartFigures(
    per_day=[(date(2026, 1, 1), 0)],
    per_hour=[0] * 24,
    categories={},
    outcomes={},
    ratings={" ".join(pair): 0 for pair in RATINGS.values()},
    escalations={"1": 0},
)


def without_styles(svg: str) -> str:
    """The chart with its `<style>` and style attributes taken out (see chart_stylesheet)."""
    return STYLE_ATTRIBUTE.sub(r"\1", STYLE_ELEMENT.sub("", svg))


def styles_of(svg: str) -> list[str]:
    """The CSS in the chart's `<style>`, as a stylesheet file needs it (unescaped)."""
    return [html.unescape(css) for css in STYLE_ELEMENT.findall(svg)]


@cache
def chart_stylesheet() -> str:
    drawn = draw_charts(EMPTY_CHARTS).values()
    return "\n".join([*(css for svg in drawn for css in styles_of(svg)), HIDDEN_TOOLTIP, ""])


def page_charts(figures: Kpis) -> dict[str, Markup]:
    drawn = draw_charts(chart_figures(figures))
    # Our own SVG, from numbers and our labels: safe to place in the page as it is.
    return {name: Markup(without_styles(svg)) for name, svg in drawn.items()}  # noqa: S704


# --- the page -------------------------------------------------------------------------------


def period_links(today: date, zone: tzinfo) -> dict[str, str]:
    """The months a supervisor asks for most: this one and the one before."""
    this_month = Period.month(today.year, today.month, zone)
    return {"this_month": this_month.label, "last_month": this_month.previous().label}


def render_kpis(figures: Kpis | None, today: date, zone: tzinfo, problem: str = "") -> str:
    return render_template(
        "console_kpis.html",
        k=figures,
        lines=kpi_lines(figures) if figures else [],
        definitions=definitions(figures.targets) if figures else [],
        charts=page_charts(figures) if figures else {},
        levels=service_levels().complaint_levels,
        percent=percent,
        problem=problem,
        chosen=request.args,
        months=period_links(today, zone),
        first_day=figures.period.start.date() if figures else None,
        last_day=last_day(figures.period) if figures else None,
        **display_helpers(zone),
    )


@console.get("/kpis", endpoint="kpis")
@require_role(*CONSOLE_ROLES)
def kpis_page() -> ResponseReturnValue:
    found = services()
    zone = found.settings.timezone
    now = found.clock.now()
    today = now.astimezone(zone).date()
    try:
        period = requested_period(request.args, zone, today)
    except FilterError as problem:
        return render_kpis(None, today, zone, str(problem)), 400
    with found.db.reader() as session:
        figures = kpis(session, period, found.settings, now=now)
    return render_kpis(figures, today, zone)


@console.get("/kpis/charts.css")
@require_role(*CONSOLE_ROLES)
def chart_styles() -> ResponseReturnValue:
    return Response(chart_stylesheet(), mimetype="text/css")


def last_day(period: Period) -> date:
    return period.end.date() - timedelta(days=1)
