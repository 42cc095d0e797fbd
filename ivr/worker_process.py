"""The worker processes: `ivr worker` (an RQ worker with its scheduler) and `ivr cron`."""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler

from ivr.app import create_app, services
from ivr.redis_link import connect_patient
from worker.jobs import sweep_deadlines
from worker.queues import ALL_QUEUES, TICKETS_JOB, TICKETS_QUEUE
from worker.runtime import HotlineWorker, use_app

SWEEP_EVERY_S = 60  # escalations and deadline flags are never more than a minute late


def _connection() -> Redis:
    app = create_app()
    use_app(app)
    with app.app_context():
        settings = services().settings
        url = settings.redis_url or services().embedded_redis.url  # type: ignore[union-attr]
    return connect_patient(url)


def run_worker(burst: bool = False) -> bool:
    connection = _connection()
    worker = HotlineWorker(list(ALL_QUEUES), connection=connection)
    return bool(worker.work(burst=burst, with_scheduler=True))


def run_cron() -> None:
    """Enqueue the periodic jobs (RQ's cron scheduler); the workers run them."""
    scheduler = CronScheduler(_connection(), name="hotline-cron")
    scheduler.register(
        sweep_deadlines,
        TICKETS_QUEUE,
        interval=SWEEP_EVERY_S,
        job_timeout=TICKETS_JOB["job_timeout"],
        result_ttl=0,
    )
    scheduler.start()  # type: ignore[no-untyped-call]
