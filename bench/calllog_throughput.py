"""Call-log throughput of one worker process: webhooks' events stored per second, one
transaction per webhook (as before) beside the jobs taken in bulk (worker.call_log_batches).

    .venv/bin/python -m bench.calllog_throughput                   # SQLite, embedded Redis
    BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1/bench \\
        .venv/bin/python -m bench.calllog_throughput --webhooks 5000

Each webhook is a realistic batch (a call's start, a menu choice, and its end on the
status callback, from a few thousand distinct calls); the queue is filled first, then one
burst worker drains it and the wall time is taken. The database is migrated and emptied.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rq import Queue
from sqlalchemy import create_engine, text

import worker.call_log_batches as batches
from ivr.app import create_app
from ivr.core.events import CallEvent, EventKind
from ivr.queues import CALL_LOG_JOB, CALL_LOG_QUEUE, RECORD_JOB
from ivr.store.db import upgrade
from ivr.store.redis_link import EmbeddedRedis, connect_patient
from worker.runtime import HotlineWorker, use_services

STARTED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def webhook(n: int) -> list[dict[str, Any]]:
    """The n-th webhook: three per call (start, choice, completed)."""
    sid, step = f"CAbench{n // 3:07d}", n % 3
    at = STARTED + timedelta(seconds=n)
    if step == 0:
        events = [
            CallEvent(sid, EventKind.CALL_STARTED, at, detail={"from": "+8613900000001"}),
            CallEvent(sid, EventKind.GREETED, at, node="main_menu"),
        ]
    elif step == 1:
        events = [
            CallEvent(sid, EventKind.CHOICE, at, seq=1, node="main_menu", detail={"digits": "3"}),
            CallEvent(sid, EventKind.ENTERED, at, seq=1, node="inquiry_menu"),
        ]
    else:
        events = [
            CallEvent(sid, EventKind.STATUS, at, detail={"status": "completed", "duration": "41"})
        ]
    return [event.to_dict() for event in events]


def empty(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM call_events"))
        connection.execute(text("DELETE FROM calls"))
    engine.dispose()


def drain(database_url: str, redis_url: str, webhooks: int, take: int) -> tuple[float, int]:
    empty(database_url)
    redis = connect_patient(redis_url)
    redis.flushdb()
    queue = Queue(CALL_LOG_QUEUE, connection=redis)
    payloads = [webhook(n) for n in range(webhooks)]
    with redis.pipeline() as pipe:
        for payload in payloads:
            queue.enqueue(RECORD_JOB, payload, pipeline=pipe, **CALL_LOG_JOB)
        pipe.execute()
    app = create_app(
        {"database_url": database_url, "redis_url": redis_url, "lease_ticket_numbers": False}
    )
    use_services(app.extensions["ivr"])
    batches.TAKE_AT_MOST = take
    started = time.perf_counter()
    HotlineWorker([queue.name], connection=redis).work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(p) for p in payloads)


def report(rows: list[tuple[str, str, float, int, int]]) -> str:
    lines = [
        "| database | mode | webhooks | events | seconds | events/s | webhooks/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for database, mode, seconds, events, hooks in rows:
        lines.append(
            f"| {database} | {mode} | {hooks} | {events} | {seconds:.1f}"
            f" | {events / seconds:.0f} | {hooks / seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--webhooks", type=int, default=3000)
    options = parser.parse_args(argv)
    rows: list[tuple[str, str, float, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="ivr-throughput-") as scratch:
        os.environ["IVR_DATA_DIR"] = scratch
        embedded = None if os.environ.get("BENCH_REDIS_URL") else EmbeddedRedis(Path(scratch))
        redis_url = os.environ.get("BENCH_REDIS_URL") or (embedded.url if embedded else "")
        databases = [("SQLite", f"sqlite:///{scratch}/bench.sqlite3")]
        if os.environ.get("BENCH_POSTGRES_URL"):
            databases.append(("PostgreSQL", os.environ["BENCH_POSTGRES_URL"]))
        for name, url in databases:
            upgrade(url)
            for mode, take in (("one job per webhook", 0), ("jobs taken in bulk", 100)):
                print(f"{name}: {mode} ...", file=sys.stderr)
                seconds, events = drain(url, redis_url, options.webhooks, take)
                rows.append((name, mode, seconds, events, options.webhooks))
        if embedded:
            embedded.stop()
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
