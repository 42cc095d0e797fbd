"""A short surge: ten residents phoning a running hotline (`ivr run`, two workers) at once,
one complaint call after another: every caller is greeted, every event and promised
ticket is stored, and every confirmation SMS leaves, once.

`python -m bench.surge` runs the same surge with 50 callers for 5 minutes and measures
how far behind the workers fall; here only what was promised is counted, never how fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.surge import run_surge

pytestmark = pytest.mark.faults


def test_a_surge_of_callers_loses_nothing(tmp_path: Path, database_url: str) -> None:
    found = run_surge(
        tmp_path,
        database_url,
        workers=2,
        callers=10,
        think_s=0.2,
        duration_s=20,
        settle_s=120,
        prefix="CAsurge",
    )

    assert found.failed == []
    assert found.greeted == len(found.calls) > 0
    assert found.events_stored == found.events_expected
    assert found.tickets_stored == len(found.promised)
    assert found.numbers_wrong == 0
    assert len(found.sms_delays_s) == len(found.promised)  # every confirmation SMS sent
    assert found.sms_duplicates == 0
