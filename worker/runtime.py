"""The worker process's parts (ivr.services), built without Flask, and its RQ worker."""

from __future__ import annotations

from rq import SimpleWorker, get_current_job
from rq.job import Job

from ivr.config import load_settings
from ivr.core.clock import SystemClock
from ivr.services import Services, build_services
from worker.dequeue import ReliableQueue

_services: Services | None = None


def use_services(found: Services | None) -> None:
    """Bind the parts jobs run with (a test's, or None to build them afresh)."""
    global _services
    _services = found


def job_services() -> Services:
    """This process's parts, built from the environment on first use. Jobs take ids and
    plain data, and find the database, Redis and settings here."""
    global _services
    if _services is None:
        _services = build_services(load_settings(), SystemClock())
    return _services


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
