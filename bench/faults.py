"""Faults at length: a real hotline (`ivr run`) while its Redis is stopped or frozen and
its workers are killed, with residents phoning in throughout; then a table of what was
promised against what was stored.

    .venv/bin/python -m bench.faults                      # 70 s and 5 min outages, SQLite
    .venv/bin/python -m bench.faults --lengths 10 --faults redis-stop
    .venv/bin/python -m bench.faults --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python -m bench.faults --faults database-away --database-url postgresql+psycopg://...

The "none" row is the baseline: the same calls with nothing broken, in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from ivr.store.db import upgrade
from tests.faults.harness import (
    Hotline,
    PostgresDatabase,
    RedisServer,
    Tally,
    events_per_call,
    place_calls,
    running_hotline,
    tally,
)

FAULTS = ("none", "redis-stop", "redis-freeze", "worker-kill", "database-away")
# The database refusing connections needs a PostgreSQL server: a database of the run's own
# on it is taken away (the server keeps running). Not in the default list for SQLite.
DATABASE_FAULT = "database-away"
CALL_EVERY_S = 1.0
LEAD_S = 5.0  # calls before the fault starts, and after it ends


def damage(
    fault: str, redis: RedisServer, hotline: Hotline, database: PostgresDatabase | None
) -> tuple[Callable[[], None], Callable[[], None]]:
    def kill_workers() -> None:
        for pid in hotline.children("-m worker worker"):
            os.kill(pid, signal.SIGKILL)

    def nothing() -> None:
        return None

    return {
        "none": (nothing, nothing),
        "redis-stop": (redis.stop, redis.start),
        "redis-freeze": (redis.freeze, redis.thaw),
        # Workers killed every 10 s for the whole length: supervisord keeps replacing them.
        "worker-kill": (kill_workers, nothing),
        DATABASE_FAULT: (database.take_away, database.give_back)
        if database
        else (nothing, nothing),
    }[fault]


def run_one(
    fault: str,
    length_s: float,
    folder: Path,
    database_url: str,
    prefix: str,
    database: PostgresDatabase | None = None,
) -> Tally:
    with running_hotline(folder, database_url) as (redis, hotline):
        per_call = events_per_call(hotline)
        hurt, heal = damage(fault, redis, hotline, database)

        def during() -> None:
            time.sleep(LEAD_S)
            ends = time.monotonic() + length_s
            hurt()
            while fault == "worker-kill" and time.monotonic() + 10 < ends:
                time.sleep(10)
                hurt()
            time.sleep(max(0.0, ends - time.monotonic()))
            heal()

        count = int((length_s + 2 * LEAD_S) / CALL_EVERY_S)
        results = place_calls(hotline, count, CALL_EVERY_S, prefix, during)
        return tally(hotline, results, per_call, settle_s=max(180.0, length_s))


def run_without_database(
    server_url: str, fault: str, length_s: float, folder: Path, index: int
) -> Tally:
    name = make_url(server_url).database or "bench"
    database = PostgresDatabase(server_url, f"{name}_away")
    database.create()
    try:
        return run_one(fault, length_s, folder, database.url, f"CA{index:02d}", database)
    finally:
        database.give_back()
        database.drop()
        database.dispose()


def report(rows: list[tuple[str, float, Tally]]) -> str:
    lines = [
        "| fault | length s | greeted | events stored/expected | tickets stored/promised"
        " | wrong numbers | duplicate SMS | recovery s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fault, length, found in rows:
        row = found.row()
        lines.append(
            f"| {fault} | {length:.0f} | {row['greeted']} | {row['events']} | {row['tickets']}"
            f" | {row['wrong numbers']} | {row['duplicate SMS']} | {row['recovery s']} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lengths", default="70,300", help="fault lengths in seconds")
    parser.add_argument("--faults", default="", help=f"of {', '.join(FAULTS)}; default: all")
    parser.add_argument("--database-url", default="", help="default: a SQLite file per run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    lengths = [float(x) for x in options.lengths.split(",") if x]
    on_postgres = options.database_url.startswith("postgresql")
    every = [f for f in FAULTS[1:] if on_postgres or f != DATABASE_FAULT]
    faults = [f for f in options.faults.split(",") if f] or every
    unknown = set(faults) - set(FAULTS)
    if unknown:
        print(f"unknown faults: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if DATABASE_FAULT in faults and not on_postgres:
        print(f"{DATABASE_FAULT} needs --database-url on PostgreSQL", file=sys.stderr)
        return 2
    rows: list[tuple[str, float, Tally]] = []
    with tempfile.TemporaryDirectory(prefix="ivr-faults-") as scratch:
        plan = [("none", min(lengths))] + [(f, n) for f in faults for n in lengths]
        for index, (fault, length) in enumerate(plan):
            folder = Path(scratch) / f"run{index}"
            url = options.database_url or f"sqlite:///{folder / 'ivr.sqlite3'}"
            folder.mkdir()
            print(f"{fault} for {length:.0f} s ...", file=sys.stderr)
            if fault == DATABASE_FAULT:
                found = run_without_database(options.database_url, fault, length, folder, index)
            else:
                upgrade(url)
                found = run_one(fault, length, folder, url, f"CA{index:02d}")
            for failure in found.failed[:5]:
                print(f"  failed: {failure}", file=sys.stderr)
            rows.append((fault, length, found))
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
