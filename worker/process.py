"""The worker processes: `ivr worker`, `ivr scheduler` and `ivr cron`.

Each of them outlives a Redis outage of any length: at start it waits for Redis, and
when Redis goes away it says so once, waits with a capped backoff and carries on. A
process that dies anyway is restarted by its supervisor (`ivr run`, or systemd).
"""

from __future__ import annotations

import logging
import os
import socket
import time as wall
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.cron import CronScheduler
from rq.scheduler import RQScheduler

from ivr.queues import ALL_QUEUES, CALL_LOG_QUEUE, REPORT_JOB_TIMEOUT_S, TICKETS_JOB, TICKETS_QUEUE
from ivr.store.redis_link import connect_patient
from worker.call_log_batches import give_back_abandoned
from worker.jobs import (
    build_monthly_report,
    purge_expired_personal_data,
    sweep_callbacks,
    sweep_deadlines,
)
from worker.runtime import HotlineWorker, job_services

log = logging.getLogger("ivr.worker")

SWEEP_EVERY_S = 60  # escalations and deadline flags are never more than a minute late
PURGE_AT = time(3, 30)  # hotline time: the quietest hour for the retention purge
# The monthly report is checked hourly rather than at one cron instant: RQ's cron reads UTC,
# the report is due at 06:00 hotline time on the 1st, and a check after a stopped scheduler
# still builds it. A report already built is left alone, so the checks cost a stat call.
REPORT_CHECK_CRON = "0 * * * *"
# Workers announce themselves every WORKER_TTL_S / 2, so /readyz sees a dead one within a
# minute; abandoned jobs are handed back to the queue at each maintenance.
WORKER_TTL_S = 30
MAINTENANCE_EVERY_S = 30
SCHEDULER_TICK_S = 1.0
ABANDONED_EVERY_TICKS = 10  # call-log jobs a dead worker held go back within ~40 s
REDIS_WAIT_CAP_S = 5.0

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
T = TypeVar("T")


def redis_url() -> str:
    found = job_services()
    return found.settings.redis_url or found.embedded_redis.url  # type: ignore[union-attr]


def wait_for_redis(connection: Redis, who: str) -> None:
    """Block until Redis answers: a process started during an outage waits rather than dies."""
    delay = 0.5
    said = False
    while True:
        try:
            connection.ping()
        except REDIS_DOWN as error:
            if not said:
                log.warning("%s: Redis is not answering (%s); waiting for it", who, error)
                said = True
            wall.sleep(delay)
            delay = min(delay * 2, REDIS_WAIT_CAP_S)
            continue
        if said:
            log.info("%s: Redis is back", who)
        return


def through_outages(who: str, connection: Redis, run: Callable[[], T]) -> T:
    """Run `run` until it returns; whenever Redis drops, wait for it and run it again."""
    while True:
        wait_for_redis(connection, who)
        try:
            return run()
        except REDIS_DOWN as error:
            log.warning("%s: lost Redis (%s); resuming once it is back", who, error)


def daily_cron(at: time, zone: ZoneInfo, day: date) -> str:
    """A cron line for `at` hotline time each day: RQ's cron scheduler reads them in UTC.
    The offset is `day`'s, so in a zone with summer time the job moves by an hour twice
    a year until the scheduler restarts."""
    moment = datetime.combine(day, at, zone).astimezone(UTC)
    return f"{moment.minute} {moment.hour} * * *"


def _purge_cron() -> str:
    found = job_services()
    return daily_cron(PURGE_AT, found.settings.timezone, found.clock.now().date())


def hotline_worker(connection: Redis) -> HotlineWorker:
    return HotlineWorker(
        list(ALL_QUEUES),
        connection=connection,
        worker_ttl=WORKER_TTL_S,
        maintenance_interval=MAINTENANCE_EVERY_S,
    )


def redis_keeps_data(connection: Redis) -> bool | None:
    """Whether Redis writes what it holds to disk (append-only file or snapshots); None
    when it will not say (managed servers often refuse CONFIG)."""
    try:
        appendonly = connection.config_get("appendonly").get("appendonly")
        save = connection.config_get("save").get("save")
    except RedisResponseError:
        return None
    return appendonly == "yes" or bool(save and save.strip())


def warn_if_redis_forgets(connection: Redis) -> None:
    # Queued call-log jobs live only in Redis until a worker stores them: a server that
    # keeps nothing on disk loses them when it restarts.
    if redis_keeps_data(connection) is False:
        log.warning(
            "Redis keeps nothing on disk (appendonly no, no save points): a Redis restart"
            " loses the call-log events still queued; set appendonly yes"
        )


def run_worker(burst: bool = False, with_scheduler: bool = True) -> bool:
    """An RQ worker. RQ itself rides out Redis drops while it waits for jobs; anything
    else that loses Redis ends this worker, and a fresh one takes its place."""
    connection = connect_patient(redis_url())
    wait_for_redis(connection, "worker")
    warn_if_redis_forgets(connection)
    worker = hotline_worker(connection)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler))


class Scheduler:
    """Moves due retries and delayed jobs onto their queues, once a second.

    RQ's own scheduler runs as a child of a worker and is only restarted at the worker's
    maintenance, so a Redis blip used to stop retries for ten minutes. This one is its own
    process and treats a lost connection as a pause."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection
        self.scheduler = RQScheduler(list(ALL_QUEUES), connection=connection)
        self.ticks = 0

    def tick(self) -> None:
        if self.scheduler.should_reacquire_locks:
            self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        self.scheduler.heartbeat()  # type: ignore[no-untyped-call]
        self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        if (
            self.ticks % ABANDONED_EVERY_TICKS == 0
            and CALL_LOG_QUEUE in self.scheduler.acquired_locks
        ):
            give_back_abandoned(self.connection)
        self.ticks += 1

    def run(self) -> None:
        self.scheduler._install_signal_handlers()  # type: ignore[no-untyped-call]
        self.scheduler.register_birth()
        while not self.scheduler._stop_requested:
            try:
                self.tick()
            except REDIS_DOWN as error:
                log.warning("scheduler: lost Redis (%s); waiting for it", error)
                wait_for_redis(self.scheduler.connection, "scheduler")
                continue
            wall.sleep(SCHEDULER_TICK_S)
        with suppress(*REDIS_DOWN):  # the locks expire by themselves if Redis is away
            self.scheduler.stop()  # type: ignore[no-untyped-call]


def run_scheduler() -> None:
    connection = connect_patient(redis_url())
    wait_for_redis(connection, "scheduler")
    Scheduler(connection).run()


def hotline_cron(connection: Redis) -> CronScheduler:
    """Enqueue the periodic jobs (RQ's cron scheduler); the workers run them."""
    # A name of its own per process: with several hosts on one Redis, one shared name made
    # the second cron to stop fail to find itself in RQ's registry.
    name = f"hotline-cron@{socket.gethostname()}:{os.getpid()}"
    scheduler = CronScheduler(connection, name=name)
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
    return scheduler


def run_cron() -> None:
    """RQ's cron stops at the first Redis error; a fresh one is started once Redis is back.
    An interval job may then run one tick early, which the sweeps allow."""
    connection = connect_patient(redis_url())
    through_outages("cron", connection, lambda: hotline_cron(connection).start())  # type: ignore[no-untyped-call]
