"""Labelled sentences (tests/speech/*.yaml) and how the listener does on them.

A corpus file holds, per locale and menu, sentences under the label of what the caller
meant: an option named by where it goes or a value it sets (``repair``, ``water``,
``office_hours`` for ``faq_office_hours``), ``emergency.gas`` for an emergency said at that
menu, ``yes`` / ``no`` for a yes/no question, ``none`` for what no option is.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from ivr.flows.definition import Flow, Node, Option
from ivr.flows.speech.listener import Heard

NONE = "none"
EMERGENCY = "emergency."


@dataclass(frozen=True)
class Sample:
    locale: str
    menu: str
    label: str
    text: str


def load_corpus(path: Path) -> list[Sample]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        Sample(str(locale), str(menu), str(label), str(text))
        for locale, menus in data.items()
        for menu, labels in (menus or {}).items()
        for label, texts in (labels or {}).items()
        for text in texts or ()
    ]


def name_of(option: Option) -> str:
    return option.name


def heard_name(node: Node, heard: Heard) -> str:
    """What was understood, as a corpus label (asked back: ``ask:repair``)."""
    option = heard.option
    if option is None:
        return NONE
    if heard.emergency and node.options.get(option.key) is not option:
        return f"{EMERGENCY}{name_of(option)}"
    return name_of(option) if heard.sure else f"ask:{name_of(option)}"


@dataclass(frozen=True)
class Judged:
    sample: Sample
    heard: Heard
    right: bool  # understood at once, and right
    routed: bool  # right, or asked back about the right option
    seconds: float

    @property
    def group(self) -> str:
        if self.sample.label.startswith(EMERGENCY) or self.sample.menu == "emergency_menu":
            return "emergencies"
        if self.sample.label in {"yes", "no"}:
            return "yes/no"
        return self.sample.menu


class Hears(Protocol):
    def hear(self, node: Node, locale: str, text: str) -> Heard: ...


def judge(flow: Flow, listener: Hears, samples: list[Sample]) -> Iterator[Judged]:
    for sample in samples:
        node = flow.node(sample.menu)
        started = time.perf_counter()
        heard = listener.hear(node, sample.locale, sample.text)
        seconds = time.perf_counter() - started
        right, routed = _verdict(node, sample.label, heard)
        yield Judged(sample, heard, right, routed, seconds)


def _verdict(node: Node, label: str, heard: Heard) -> tuple[bool, bool]:
    """(right, routed): routed also counts a correct guess the caller was asked back about;
    an emergency counts only when reached in that one sentence."""
    said = heard_name(node, heard)
    if label.startswith(EMERGENCY):
        return said == label, said == label
    return said == label, said in {label, f"ask:{label}"}


@dataclass
class Tally:
    total: int = 0
    right: int = 0
    routed: int = 0

    def rate(self, count: int) -> float:
        return 100.0 * count / self.total if self.total else 0.0


@dataclass
class Report:
    """Accuracy by locale and group, a confusion of labels, and the time each sentence took."""

    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    confusion: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    misses: list[Judged] = field(default_factory=list)

    @classmethod
    def of(cls, judged: Iterator[Judged], flow: Flow) -> Report:
        report = cls()
        for one in judged:
            tally = report.tallies.setdefault((one.sample.locale, one.group), Tally())
            tally.total += 1
            tally.right += one.right
            tally.routed += one.routed
            report.seconds.append(one.seconds)
            said = heard_name(flow.node(one.sample.menu), one.heard)
            report.confusion[(one.sample.menu, one.sample.label, said)] += 1
            if not one.right:
                report.misses.append(one)
        return report

    def total(self, locale: str | None = None, group: str | None = None) -> Tally:
        whole = Tally()
        for (loc, grp), tally in self.tallies.items():
            if (locale is None or loc == locale) and (group is None or grp == group):
                whole.total += tally.total
                whole.right += tally.right
                whole.routed += tally.routed
        return whole

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return 0.0
        return 1000.0 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
