"""The worker process: one Flask app, every job inside its app context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, has_app_context
from rq import SimpleWorker, get_current_job
from rq.job import Job

from worker.dequeue import ReliableQueue

P = ParamSpec("P")
R = TypeVar("R")

_app: Flask | None = None


def use_app(app: Flask | None) -> None:
    """Bind the app jobs run in (the worker process at start-up, or a test)."""
    global _app
    _app = app


def job_app() -> Flask:
    global _app
    if _app is None:
        from ivr.app import create_app

        _app = create_app({"lease_ticket_numbers": False})
    return _app


def in_app_context(job: Callable[P, R]) -> Callable[P, R]:
    """Jobs take ids and plain data; this gives them the app's config and database."""

    @wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if has_app_context():
            return job(*args, **kwargs)
        with job_app().app_context():
            return job(*args, **kwargs)

    return run


def job_will_retry() -> bool:
    """True when RQ will run the current job again if it raises (retries are left)."""
    job = get_current_job()
    return job is not None and job.should_retry


class HotlineWorker(SimpleWorker):
    """Runs jobs in the worker process itself: call-log jobs are many and small,
    and a fork per job would cost more than the job. Timeouts still apply.

    Jobs are taken through an intermediate list on every queue (`worker.dequeue`), so
    a worker killed as it takes one never loses it."""

    queue_class = ReliableQueue

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        # RQ clears the intermediate list only for single-queue workers; this one always
        # takes through it. The removal and the start are one pipeline.
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)
