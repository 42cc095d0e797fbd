"""Charts as SVG strings, drawn on the server with pygal, for the report and the console.

pygal's JavaScript (tooltips loaded from a CDN) is switched off, and the SVG is cleaned so
the same figures always give the same bytes: the random chart id becomes the chart's name
and pygal's comments (its links and the drawing date) are dropped. Nothing in the SVG
refers to anything outside it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from copy import copy
from datetime import date
from typing import Any

import pygal
from pygal.style import Style

# pygal appends an import hook for its map plugins, which we do not use; the hook predates
# find_spec, so Python warns about it on every import it is asked about. Take it out again.
sys.meta_path[:] = [
    finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)
]

FONTS = (
    "'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei','PingFang SC',"
    "'Microsoft YaHei',sans-serif"
)
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#1f2933",
    foreground_subtle="#8a94a3",
    colors=("#2f6fb0", "#e0803b", "#4c9a55", "#c6453c", "#7d5ba6", "#8c6d3f", "#3aa0a8"),
    font_family=FONTS,
    label_font_family=FONTS,
    major_label_font_family=FONTS,
    title_font_family=FONTS,
    legend_font_family=FONTS,
    value_font_family=FONTS,
    no_data_font_family=FONTS,
    title_font_size=18,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    no_data_font_size=20,
)
_CHART_ID = re.compile(r"chart-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
NO_DATA = "暂无数据 No data"


def _options(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "style": STYLE,
        "js": [],  # pygal's default loads its tooltips from a CDN
        "disable_xml_declaration": True,
        "no_data_text": NO_DATA,
        "width": 800,
        "height": 360,
        "show_legend": False,
        "print_zeroes": False,
        **extra,
    }


def count_ticks(top: float, most: int = 8) -> list[int]:
    """Whole-number ticks from 0 to at least `top`, in steps of 1, 2 or 5 × 10ⁿ: counts
    have no fractions, and pygal's own ticks would show 0.2 calls."""
    step = 1
    while top / step > most:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2  # 1, 2, 5, 10, 20, 50, ...
    last = max(-(-int(top) // step) * step, step)
    return list(range(0, last + step, step))


def _svg(chart: Any, name: str) -> str:
    """The chart's SVG, deterministic and self-contained, ready to inline in HTML."""
    svg = str(chart.render(is_unicode=True))
    svg = _CHART_ID.sub(f"chart-{name}", svg)
    svg = _COMMENT.sub("", svg)
    # pygal inlines its config for the JavaScript we do not load: dead weight, and random ids.
    svg = _SCRIPT.sub("", svg)
    # Inline SVG in HTML needs no namespace declarations; without them the page names no URL.
    return _NAMESPACE.sub("", svg)


def bar_chart(
    name: str, title: str, labels: Sequence[str], counts: Sequence[int], **extra: Any
) -> str:
    ticks = count_ticks(max(counts, default=0))
    chart = pygal.Bar(**_options(title, x_labels=list(labels), y_labels=ticks, **extra))
    chart.add(title, list(counts))
    return _svg(chart, name)


def horizontal_bar_chart(name: str, title: str, counts: Mapping[str, int]) -> str:
    """One bar per label, the largest at the top: categories, outcomes."""
    ordered = sorted(counts.items(), key=lambda item: -item[1])[::-1]  # pygal draws upwards
    chart = pygal.HorizontalBar(
        **_options(
            title,
            height=max(160, 80 + 36 * len(ordered)),
            x_labels=[label for label, _ in ordered],
            y_labels=count_ticks(max(counts.values(), default=0)),
            print_values=True,
        )
    )
    chart.add(title, [count for _, count in ordered])
    return _svg(chart, name)


def pie_chart(name: str, title: str, slices: Mapping[str, int], colors: Sequence[str] = ()) -> str:
    """Slices in the order given; `colors` in the same order (the default palette if none)."""
    style = STYLE
    if colors:
        style = copy(STYLE)
        style.colors = tuple(colors)
    chart = pygal.Pie(
        **_options(title, style=style, show_legend=True, inner_radius=0.45, legend_at_bottom=True)
    )
    for label, count in slices.items():
        chart.add(label, count or None)  # an empty slice keeps its place in the colours
    return _svg(chart, name)


def daily_volume_chart(
    per_day: Sequence[tuple[date, int]], title: str = "每日来电 Calls per day"
) -> str:
    labels = [f"{day:%d}" for day, _ in per_day]
    return bar_chart("per-day", title, labels, [count for _, count in per_day])


def hourly_volume_chart(per_hour: Sequence[int], title: str = "分时来电 Calls by hour") -> str:
    labels = [f"{hour:02d}" for hour in range(len(per_hour))]
    return bar_chart("per-hour", title, labels, list(per_hour))


SATISFACTION_COLORS = ("#4c9a55", "#e0b03b", "#c6453c")  # satisfied, average, dissatisfied


def satisfaction_chart(ratings: Mapping[str, int], title: str = "来电评价 Ratings") -> str:
    """`ratings` from satisfied to dissatisfied: green, amber, red."""
    return pie_chart("satisfaction", title, ratings, SATISFACTION_COLORS)
