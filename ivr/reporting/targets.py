"""The KPIs held against targets, one entry each: key, words (Chinese, English), the
figure, its target and which way it must lie. The supervisor console, the monthly report
and its checks all list KPIs from here, in this order.

Adding a KPI is one entry here, plus its formula in `ivr.reporting.kpi` (a `Ratio` on
`Kpis`) and its target in `kpi_targets.yaml`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.core.terms import Label
from ivr.reporting.kpi import Kpis, KpiTargets, Ratio


@dataclass(frozen=True)
class KpiDefinition:
    key: str
    label: Label
    figure: Callable[[Kpis], Ratio]
    target: Callable[[KpiTargets], float]
    at_least: bool = True  # False: the figure must stay at or under the target


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "answer_rate", ("接听率", "Answer rate"), lambda k: k.answer_rate, lambda t: t.answer_rate
    ),
    KpiDefinition(
        "abandonment",
        ("放弃率", "Abandonment"),
        lambda k: k.abandonment,
        lambda t: t.abandonment_max,
        at_least=False,
    ),
    KpiDefinition(
        "three_ring",
        ("三声内接听", "Three-ring compliance"),
        lambda k: k.three_ring,
        lambda t: t.three_ring,
    ),
    KpiDefinition(
        "service_level",
        ("服务水平", "Service level"),
        lambda k: k.service_level,
        lambda t: t.service_level,
    ),
    KpiDefinition(
        "first_call_resolution",
        ("解决率（首次来电）", "First-call resolution"),
        lambda k: k.first_call_resolution,
        lambda t: t.first_call_resolution,
    ),
    KpiDefinition(
        "repair_sla",
        ("报修按时完成", "Repair SLA"),
        lambda k: k.repair_sla,
        lambda t: t.sla_compliance,
    ),
    KpiDefinition(
        "complaint_sla",
        ("投诉按时处理", "Complaint SLA"),
        lambda k: k.complaint_sla,
        lambda t: t.sla_compliance,
    ),
    KpiDefinition(
        "satisfaction", ("满意度", "Satisfaction"), lambda k: k.satisfied, lambda t: t.satisfaction
    ),
    KpiDefinition(
        "callbacks_on_time",
        ("回电按时", "Callbacks on time"),
        lambda k: k.callbacks_on_time,
        lambda t: t.callbacks_on_time,
    ),
)
KPI_NAMES: Mapping[str, Label] = {kpi.key: kpi.label for kpi in KPIS}


@dataclass(frozen=True)
class TargetCheck:
    key: str
    actual: float | None
    target: float
    at_least: bool  # False: the figure must stay at or under the target

    @property
    def met(self) -> bool | None:
        if self.actual is None:
            return None
        return self.actual >= self.target if self.at_least else self.actual <= self.target


def check_targets(figures: Kpis) -> list[TargetCheck]:
    """Each KPI that has a target, with whether the period met it (None: nothing to judge)."""
    return [
        TargetCheck(kpi.key, kpi.figure(figures).value, kpi.target(figures.targets), kpi.at_least)
        for kpi in KPIS
    ]


def ratios(figures: Kpis) -> dict[str, Ratio]:
    """Each KPI's figure, by key."""
    return {kpi.key: kpi.figure(figures) for kpi in KPIS}
