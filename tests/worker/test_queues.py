"""The web enqueues jobs by name: every name is a job the worker has."""

from __future__ import annotations

import importlib

import pytest

from ivr.queues import JOB_NAMES


@pytest.mark.parametrize("name", JOB_NAMES)
def test_every_job_named_on_the_web_side_is_a_worker_job(name: str) -> None:
    module, function = name.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function))
