"""Each of the call register's terms is defined once, with one wording everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from ivr.calllog.query import CallDirection
from ivr.console import calls as console_calls
from ivr.core import labels
from ivr.core.labels import Label
from ivr.core.terms import CATEGORY_LABELS, OUTCOME_LABELS, CallCategory, CallOutcome
from ivr.flows.definition import CATEGORIES
from ivr.models import AuditAction, StaffRole, TicketPriority
from ivr.models import CallCategory as StoredCategory
from ivr.models import CallOutcome as StoredOutcome
from ivr.reporting import monthly
from ivr.reporting.kpi import default_targets
from ivr.reporting.targets import KPI_NAMES, KPIS, definitions
from ivr.tickets.query import SlaState


def test_every_category_and_outcome_has_its_words() -> None:
    assert set(CATEGORY_LABELS) == set(CallCategory)
    assert set(OUTCOME_LABELS) == set(CallOutcome)
    for zh, en in [*CATEGORY_LABELS.values(), *OUTCOME_LABELS.values()]:
        assert zh
        assert en
        assert zh != en


def test_the_flows_the_models_and_the_pages_share_one_list() -> None:
    assert StoredCategory is CallCategory
    assert StoredOutcome is CallOutcome
    assert frozenset(CallCategory) == CATEGORIES
    assert console_calls.LABELS["category_labels"] is CATEGORY_LABELS
    assert console_calls.LABELS["outcome_labels"] is OUTCOME_LABELS
    for category in CallCategory:
        assert labels.CATEGORIES[category] == CATEGORY_LABELS[category]
        assert monthly.CATEGORIES[category] == CATEGORY_LABELS[category]
    for outcome in CallOutcome:
        assert labels.OUTCOMES[outcome] == OUTCOME_LABELS[outcome]
        assert monthly.OUTCOMES[outcome] == OUTCOME_LABELS[outcome]


def test_every_kpi_is_one_entry_with_its_words_and_target() -> None:
    keys = [kpi.key for kpi in KPIS]
    assert len(keys) == len(set(keys))
    assert monthly.TARGET_NAMES is KPI_NAMES
    targets = default_targets()
    for kpi in KPIS:
        zh, en = kpi.label
        assert zh
        assert en
        assert 0 < kpi.target(targets) <= 1


def test_every_stored_value_a_staff_page_shows_has_its_words() -> None:
    words: list[tuple[Mapping[str, Label], type[StrEnum]]] = [
        (labels.STAFF_ROLES, StaffRole),
        (labels.SLA_STATES, SlaState),
        (labels.CALL_DIRECTIONS, CallDirection),
        (labels.AUDIT_ACTIONS, AuditAction),
        (labels.TICKET_PRIORITIES, TicketPriority),
    ]
    for table, values in words:
        assert set(table) == {str(value) for value in values}


def test_every_kpi_says_how_it_is_counted_with_the_settings_filled_in() -> None:
    counted = definitions(default_targets())
    assert [name for name, _ in counted] == [kpi.label for kpi in KPIS]
    for _, (zh, en) in counted:
        assert "{" not in zh
        assert "{" not in en
    assert "3000 毫秒" in counted[2][1][0]
