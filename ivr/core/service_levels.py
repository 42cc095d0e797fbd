"""Service levels (SLA clocks per tier) read from `ivr/core/service_levels.yaml`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ivr.config import Settings
from ivr.core.hours import next_closing

POLICY_PATH = Path(__file__).with_name("service_levels.yaml")
SAME_DAY = "same_day"
_DURATION = re.compile(r"^(\d+)([mhd])$")


class PolicyError(ValueError):
    """The service-level file is malformed; start-up and CI stop on it."""


def duration(text: str) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if not match:
        raise PolicyError(f"{text!r} is not a duration like 30m, 4h or 7d")
    amount, unit = int(match[1]), match[2]
    return (
        timedelta(minutes=amount)
        if unit == "m"
        else timedelta(hours=amount if unit == "h" else 24 * amount)
    )


@dataclass(frozen=True)
class Deadline:
    """Either a fixed span after the report, or by the office's closing time that day."""

    span: timedelta | None

    @classmethod
    def parse(cls, text: str) -> Deadline:
        return cls(None if text == SAME_DAY else duration(text))

    def due(self, reported: datetime, settings: Settings) -> datetime:
        return reported + self.span if self.span is not None else next_closing(settings, reported)


@dataclass(frozen=True)
class RepairTier:
    dispatch: Deadline | None
    on_site: Deadline | None
    resolve: Deadline


@dataclass(frozen=True)
class ComplaintTier:
    start_level: int
    escalate_after: tuple[timedelta, ...]


@dataclass(frozen=True)
class ServiceLevels:
    repair_tiers: Mapping[str, RepairTier]
    repair_categories: Mapping[str, str]
    return_visit_after: timedelta
    warn_before: timedelta
    investigate: Deadline
    complaint_tiers: Mapping[str, ComplaintTier]
    complaint_categories: Mapping[str, str]
    complaint_levels: Mapping[int, str]
    callback_general: Deadline
    callback_important: Deadline
    callback_abandoned: timedelta
    callback_emergency: timedelta

    def repair_tier(self, category: str, emergency: bool) -> str:
        return "emergency" if emergency else self.repair_categories.get(category, "small")

    def complaint_tier(self, category: str) -> str:
        return self.complaint_categories.get(category, "normal")


def _optional(raw: Mapping[str, Any], key: str) -> Deadline | None:
    return Deadline.parse(str(raw[key])) if key in raw else None


def _repair_tier(raw: Mapping[str, Any]) -> RepairTier:
    return RepairTier(
        _optional(raw, "dispatch"), _optional(raw, "on_site"), Deadline.parse(str(raw["resolve"]))
    )


def _complaint_tier(raw: Mapping[str, Any]) -> ComplaintTier:
    delays = tuple(duration(str(d)) for d in raw.get("escalate_after", ()))
    start = int(raw.get("start_level", 1))
    if not 1 <= start <= 3 or start + len(delays) > 3:
        raise PolicyError(f"complaint tier {raw!r}: levels run from 1 to 3")
    return ComplaintTier(start, delays)


def load_service_levels(path: Path = POLICY_PATH) -> ServiceLevels:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        repair, complaint, callbacks = data["repair"], data["complaint"], data["callbacks"]
        levels = ServiceLevels(
            repair_tiers={name: _repair_tier(raw) for name, raw in repair["tiers"].items()},
            repair_categories=dict(repair["categories"]),
            return_visit_after=duration(repair["return_visit_after"]),
            warn_before=duration(repair["warn_before"]),
            investigate=Deadline.parse(str(complaint["investigate"])),
            complaint_tiers={
                name: _complaint_tier(raw) for name, raw in complaint["tiers"].items()
            },
            complaint_categories=dict(complaint["categories"]),
            complaint_levels={int(k): str(v) for k, v in complaint["levels"].items()},
            callback_general=Deadline.parse(str(callbacks["general"])),
            callback_important=Deadline.parse(str(callbacks["important"])),
            callback_abandoned=duration(callbacks["abandoned"]),
            callback_emergency=duration(callbacks["emergency"]),
        )
    except (KeyError, TypeError) as exc:
        raise PolicyError(f"{path.name}: missing or malformed {exc}") from exc
    _check(levels)
    return levels


def _check(levels: ServiceLevels) -> None:
    if "emergency" not in levels.repair_tiers:
        raise PolicyError("repair tiers need an 'emergency' tier")
    for category, tier in levels.repair_categories.items():
        if tier not in levels.repair_tiers:
            raise PolicyError(f"repair category {category!r} names unknown tier {tier!r}")
    for category, tier in levels.complaint_categories.items():
        if tier not in levels.complaint_tiers:
            raise PolicyError(f"complaint category {category!r} names unknown tier {tier!r}")
