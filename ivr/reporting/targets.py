"""The KPIs held against targets, one entry each: key, words (Chinese, English), the
figure, its target and which way it must lie. The supervisor console, the monthly report
and its checks all list KPIs from here, in this order.

Adding a KPI is one entry here, plus its formula in `ivr.reporting.kpi` (a `Ratio` on
`Kpis`) and its target in `kpi_targets.yaml`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from ivr.core.terms import Label
from ivr.reporting.kpi import Kpis, KpiTargets, Ratio


@dataclass(frozen=True)
class KpiDefinition:
    key: str
    label: Label
    definition: Label  # how it is counted; {placeholders} are the targets' settings
    figure: Callable[[Kpis], Ratio]
    target: Callable[[KpiTargets], float]
    at_least: bool = True  # False: the figure must stay at or under the target


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "answer_rate",
        ("接听率", "Answer rate"),
        (
            "已结束的呼入来电中，由语音导航或人工接通（状态“已结束”且非“未接通”）的比例。",
            "Of inbound calls that have ended, the share the IVR or a person answered.",
        ),
        lambda k: k.answer_rate,
        lambda t: t.answer_rate,
    ),
    KpiDefinition(
        "abandonment",
        ("放弃率", "Abandonment"),
        (
            "已结束的呼入来电中，在获得服务前挂断的比例。",
            "Of inbound calls that have ended, the share that hung up before being served.",
        ),
        lambda k: k.abandonment,
        lambda t: t.abandonment_max,
        at_least=False,
    ),
    KpiDefinition(
        "three_ring",
        ("三声内接听", "Three-ring compliance"),
        (
            "问候语网络应答在 {greeting_budget_ms} 毫秒内的来电比例。",
            "Calls whose greeting was answered within {greeting_budget_ms} ms.",
        ),
        lambda k: k.three_ring,
        lambda t: t.three_ring,
    ),
    KpiDefinition(
        "service_level",
        ("服务水平", "Service level"),
        (
            "进入人工队列的来电中，{service_level_s} 秒内接通坐席的比例；"
            "挂断、留言、预约回电均计为未达。",
            "Of callers leaving a queue, the share put through to an agent within "
            "{service_level_s} s; hang-ups, messages and callbacks count as missed.",
        ),
        lambda k: k.service_level,
        lambda t: t.service_level,
    ),
    KpiDefinition(
        "first_call_resolution",
        ("解决率（首次来电）", "First-call resolution"),
        (
            "自助办结或人工接听的来电中，同一号码 {repeat_window_days} 天内"
            "未就同一类别再次来电的比例。",
            "Of served calls, the share whose caller did not call again about the same "
            "category within {repeat_window_days} days.",
        ),
        lambda k: k.first_call_resolution,
        lambda t: t.first_call_resolution,
    ),
    KpiDefinition(
        "repair_sla",
        ("报修按时完成", "Repair SLA"),
        (
            "本期到期的报修单中，在时限前完成的比例。",
            "Of repair orders due in the period, the share resolved by their deadline.",
        ),
        lambda k: k.repair_sla,
        lambda t: t.sla_compliance,
    ),
    KpiDefinition(
        "complaint_sla",
        ("投诉按时处理", "Complaint SLA"),
        (
            "本期到期的投诉中，在时限前处理完毕的比例。",
            "Of complaints due in the period, the share resolved by their deadline.",
        ),
        lambda k: k.complaint_sla,
        lambda t: t.sla_compliance,
    ),
    KpiDefinition(
        "satisfaction",
        ("满意度", "Satisfaction"),
        (
            "通话结束时给出的评价中，“满意”（按1）的比例。",
            "Of the ratings given at the end of calls, the share “satisfied” (1).",
        ),
        lambda k: k.satisfied,
        lambda t: t.satisfaction,
    ),
    KpiDefinition(
        "callbacks_on_time",
        ("回电按时", "Callbacks on time"),
        (
            "本期到期的回电中，在承诺时间前完成的比例。",
            "Of callbacks due in the period, the share done by the time promised.",
        ),
        lambda k: k.callbacks_on_time,
        lambda t: t.callbacks_on_time,
    ),
)
KPI_NAMES: Mapping[str, Label] = {kpi.key: kpi.label for kpi in KPIS}


def definitions(targets: KpiTargets) -> list[tuple[Label, Label]]:
    """Each KPI's words and how it is counted, with this period's settings filled in."""
    settings = asdict(targets)
    return [
        (kpi.label, (kpi.definition[0].format(**settings), kpi.definition[1].format(**settings)))
        for kpi in KPIS
    ]


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
