"""The worker processes: `ivr worker` (an RQ worker with its scheduler) and `ivr cron`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from redis import Redis
from rq.cron import CronScheduler

from ivr.app import create_app, services
from ivr.redis_link import connect_patient
from worker.jobs import (
    build_monthly_report,
    purge_expired_personal_data,
    sweep_callbacks,
    sweep_deadlines,
)
from worker.queues import ALL_QUEUES, TICKETS_JOB, TICKETS_QUEUE
from worker.runtime import HotlineWorker, job_app, use_app

SWEEP_EVERY_S = 60  # escalations and deadline flags are never more than a minute late
PURGE_AT = time(3, 30)  # hotline time: the quietest hour for the retention purge
# The monthly report is checked hourly rather than at one cron instant: RQ's cron reads UTC,
# the report is due at 06:00 hotline time on the 1st, and a check after a stopped scheduler
# still builds it. A report already built is left alone, so the checks cost a stat call.
REPORT_CHECK_CRON = "0 * * * *"
REPORT_JOB_TIMEOUT_S = 1800


def _connection() -> Redis:
    app = create_app()
    use_app(app)
    with app.app_context():
        settings = services().settings
        url = settings.redis_url or services().embedded_redis.url  # type: ignore[union-attr]
    return connect_patient(url)


def daily_cron(at: time, zone: ZoneInfo, day: date) -> str:
    """A cron line for `at` hotline time each day: RQ's cron scheduler reads them in UTC.
    The offset is `day`'s, so in a zone with summer time the job moves by an hour twice
    a year until the scheduler restarts."""
    moment = datetime.combine(day, at, zone).astimezone(UTC)
    return f"{moment.minute} {moment.hour} * * *"


def _purge_cron() -> str:
    with job_app().app_context():
        found = services()
        return daily_cron(PURGE_AT, found.settings.timezone, found.clock.now().date())


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
    # Due callbacks: this only picks them; each is tried by its own job on the outbound queue.
    scheduler.register(
        sweep_callbacks,
        TICKETS_QUEUE,
        interval=SWEEP_EVERY_S,
        job_timeout=TICKETS_JOB["job_timeout"],
        result_ttl=0,
    )
    scheduler.register(
        purge_expired_personal_data,
        TICKETS_QUEUE,
        cron=_purge_cron(),
        job_timeout=TICKETS_JOB["job_timeout"],
        result_ttl=0,
    )
    scheduler.register(
        build_monthly_report,
        TICKETS_QUEUE,
        cron=REPORT_CHECK_CRON,
        job_timeout=REPORT_JOB_TIMEOUT_S,
        result_ttl=0,
    )
    scheduler.start()  # type: ignore[no-untyped-call]
