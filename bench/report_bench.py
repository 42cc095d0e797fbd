"""How long the monthly report and its KPI queries take on a big call log.

    .venv/bin/python -m bench.report_bench                  # 20 000 calls, SQLite
    BENCH_POSTGRES_URL=postgresql+psycopg://user@host/scratch \\
        .venv/bin/python -m bench.report_bench --calls 1000000                # the real run

Seeds `--calls` calls with their events (about six each), the tickets, ticket history and
callbacks they lead to, spread over `--months` months ending with `--month`, into the
PostgreSQL database at $BENCH_POSTGRES_URL — a scratch database: its hotline tables are
emptied first — or else into a SQLite file in a temporary folder (`--sqlite PATH` keeps
it). Rows are written in bulk (COPY on PostgreSQL), not through the call-log workers:
the point is the reading side. Then it times, `--repeat` times each, the month's KPI
queries (`ivr.reporting.kpi.kpis`), the notable calls, and the whole report build (HTML and CSV;
`--pdf` adds Chromium's PDF), and prints a markdown table with the median and best of
each, plus the slowest SQL statements of one KPI run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, text

from ivr.config import load_settings
from ivr.core.clock import FrozenClock
from ivr.models import Call
from ivr.reporting.kpi import kpis
from ivr.reporting.monthly import build_report
from ivr.reporting.notable import notable
from ivr.reporting.periods import Period
from ivr.store.db import Database, upgrade

CHUNK = 20_000  # calls generated and written at a time
CALLER_POOL = 20_000  # distinct numbers: residents call again, so first-call resolution varies
TABLES = ("ticket_log", "callbacks", "tickets", "call_events", "calls")
CATEGORIES = (
    ("repair", 40),
    ("inquiry", 35),
    ("complaint", 15),
    ("help", 4),
    ("suggestion", 3),
    ("sales", 1),
    (None, 2),
)
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 6, 10, 12, 12, 10, 8, 9, 11, 11, 10, 9, 8, 7, 5, 3, 2, 1]


@dataclass
class Rows:
    """One chunk of generated rows, per table, as column -> value dicts."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    call_events: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    ticket_log: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        return [
            ("calls", self.calls),
            ("call_events", self.call_events),
            ("tickets", self.tickets),
            ("ticket_log", self.ticket_log),
            ("callbacks", self.callbacks),
        ]


class CallMaker:
    """Plausible calls and what follows them, from a seeded random generator."""

    def __init__(self, first: datetime, last: datetime, zone: tzinfo, seed: int = 11) -> None:
        self.random = random.Random(seed)
        self.first, self.last, self.zone = first, last, zone
        self.span_s = (last - first).total_seconds()
        self.ticket_id = self.log_id = self.callback_id = self.event_id = 0

    def chunk(self, start: int, count: int) -> Rows:
        rows = Rows()
        for number in range(start, start + count):
            self.call(number, rows)
        return rows

    def moment(self) -> datetime:
        """A day at random, an hour as a hotline's calls come in (busy mornings, quiet nights)."""
        day = (self.first + timedelta(seconds=self.random.random() * self.span_s)).astimezone(
            self.zone
        )
        hour = self.random.choices(range(24), HOUR_WEIGHTS)[0]
        local = day.replace(hour=hour, minute=self.random.randrange(60))
        moment = local.replace(second=self.random.randrange(60)).astimezone(UTC)
        return min(max(moment, self.first), self.last - timedelta(seconds=1))

    def call(self, number: int, rows: Rows) -> None:
        pick = self.random.random
        sid = f"CA{number:032d}"
        at = self.moment()
        caller = f"+86138{self.random.randrange(CALLER_POOL):08d}"
        category = self.random.choices(*zip(*CATEGORIES, strict=True))[0]
        outcome, status, queue, wait = self.path(pick())
        greeting_ms = self.random.lognormvariate(3.6, 0.6) if pick() > 0.002 else 3500.0
        rating = self.random.choices((1, 2, 3), (80, 15, 5))[0] if pick() < 0.4 else None
        rating = rating if outcome in {"self_served", "agent_served"} else None
        duration = self.random.randrange(20, 400)
        rows.calls.append(
            {
                "call_sid": sid,
                "started_at": at,
                "ended_at": at + timedelta(seconds=duration),
                "caller_number": caller,
                "called_number": "+8657112345678",
                "locale": "zh-CN",
                "category": category,
                "content": f"main_menu: pressed 1 -> {category or 'invalid'}",
                "outcome": outcome,
                "handler": "ivr" if outcome in {"self_served", "message"} else None,
                "status": status,
                "duration_s": duration,
                "queue": queue,
                "greeting_ms": greeting_ms,
                "satisfaction": rating,
                "direction": "outbound" if pick() < 0.03 else "inbound",
            }
        )
        self.events(sid, at, caller, category, queue, wait, outcome, rating, status, rows)
        if category in {"repair", "complaint"} and outcome == "self_served":
            self.ticket(sid, at, caller, category, rows)
        if outcome in {"message", "callback"}:
            self.callback(sid, at, caller, rows)

    def path(self, roll: float) -> tuple[str, str, str | None, int | None]:
        """Outcome, status, queue, seconds waited in the queue."""
        waited = int(self.random.expovariate(1 / 25))
        if roll < 0.5:
            return "self_served", "completed", None, None
        if roll < 0.78:
            return "agent_served", "completed", "general", waited
        if roll < 0.84:
            return "abandoned", "completed", "general", waited + 30
        if roll < 0.88:
            return "callback", "completed", "general", waited + 30
        if roll < 0.94:
            return "message", "completed", None, None
        if roll < 0.985:
            return "abandoned", "completed", None, None
        return "failed", self.random.choice(("busy", "no-answer", "failed")), None, None

    def events(
        self,
        sid: str,
        at: datetime,
        caller: str,
        category: str | None,
        queue: str | None,
        wait: int | None,
        outcome: str,
        rating: int | None,
        status: str,
        rows: Rows,
    ) -> None:
        steps: list[tuple[str, dict[str, Any]]] = [
            ("call_started", {"from": caller, "to": "+8657112345678"}),
            ("greeted", {"response_ms": 40}),
            ("choice", {"digits": "1", "goto": category}),
            ("routed", {"category": category}),
        ]
        if queue is not None and wait is not None:
            result = "bridged" if outcome == "agent_served" else "hangup"
            steps.append(("handoff", {"queue": queue}))
            steps.append(("queue_result", {"result": result, "queue": queue, "waited_s": wait}))
        elif outcome == "self_served":
            steps.append(("closed_by_ivr", {}))
        if rating is not None:
            steps.append(("rated", {"rating": str(rating)}))
        steps.append(("status", {"status": status, "duration_s": 60}))
        for seq, (kind, detail) in enumerate(steps):
            rows.call_events.append(
                {
                    "dedupe_key": f"{sid}:{seq}:{kind}:step",
                    "call_sid": sid,
                    "kind": kind,
                    "seq": seq,
                    "node": "step",
                    "at": at + timedelta(seconds=4 * seq),
                    "detail": detail,
                }
            )

    def ticket(self, sid: str, at: datetime, caller: str, category: str, rows: Rows) -> None:
        self.ticket_id += 1
        due = at + timedelta(hours=self.random.choice((8, 24, 24, 168)))
        late = self.random.random() < 0.06
        resolved = due + timedelta(hours=3) if late else due - timedelta(hours=2)
        level = self.random.choices((1, 2, 3), (85, 10, 5))[0] if category == "complaint" else 1
        rows.tickets.append(
            {
                "id": self.ticket_id,
                "number": f"{self.ticket_id:010d}",
                "number_year": at.year,
                "kind": category,
                "priority": "emergency" if self.random.random() < 0.05 else "normal",
                "category": "water" if category == "repair" else "noise",
                "sla_tier": "major" if level == 3 else "small",
                "status": "resolved",
                "caller_number": caller,
                "locale": "zh-CN",
                "description": "",
                "call_sid": sid,
                "created_at": at,
                "resolve_by": due,
                "resolved_at": resolved,
                "breached_at": due if late else None,
                "escalation_level": level,
            }
        )
        self.log(f"{self.ticket_id}:created", at, "created", {"call_sid": sid})
        rows.ticket_log.append(self.last_log)
        if level > 1:
            self.log(f"{self.ticket_id}:escalated", at + timedelta(hours=2), "escalated", {})
            rows.ticket_log.append(self.last_log)
        if self.random.random() < 0.3:
            rating = self.random.choices((1, 2, 3), (85, 10, 5))[0]
            answer = {
                "rating": rating,
                "satisfaction": ("", "satisfied", "average", "dissatisfied")[rating],
            }
            visited = resolved + timedelta(hours=20)
            self.log(f"{self.ticket_id}:visit", visited, "return_visit", answer)
            rows.ticket_log.append(self.last_log)

    def log(self, key: str, at: datetime, kind: str, detail: dict[str, Any]) -> None:
        self.log_id += 1
        self.last_log = {
            "id": self.log_id,
            "ticket_id": self.ticket_id,
            "dedupe_key": f"ticket:{key}",
            "at": at,
            "kind": kind,
            "detail": detail,
        }

    def callback(self, sid: str, at: datetime, caller: str, rows: Rows) -> None:
        self.callback_id += 1
        roll = self.random.random()
        due = at + timedelta(hours=24)
        done = at + timedelta(hours=self.random.choice((2, 6, 20, 30)))
        rows.callbacks.append(
            {
                "id": self.callback_id,
                "dedupe_key": f"callback:{sid}",
                "call_sid": sid,
                "phone": caller,
                "reason": "message",
                "important": False,
                "due_at": due,
                "status": "done" if roll < 0.9 else "unreachable" if roll < 0.95 else "pending",
                "attempts": 1,
                "created_at": at,
                "kind": "resident",
                "keeps_place": False,
                "locale": "zh-CN",
                "completed_at": done if roll < 0.9 else None,
            }
        )


# --- writing --------------------------------------------------------------------------------


def sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: UTC text without a zone, JSON as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_sqlite(engine: Engine, rows: Rows) -> None:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table, items in rows.tables():
            if not items:
                continue
            columns = list(items[0])
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608 - our own table names
                f" VALUES ({', '.join('?' for _ in columns)})"
            )
            cursor.executemany(statement, [[sqlite_value(r[c]) for c in columns] for r in items])
        connection.commit()
    finally:
        connection.close()


def write_postgres(engine: Engine, rows: Rows) -> None:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table, items in rows.tables():
            if not items:
                continue
            columns = list(items[0])
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for item in items:
                    copy.write_row(
                        [json.dumps(v) if isinstance(v, dict) else v for v in item.values()]
                    )
        connection.commit()
    finally:
        connection.close()


def empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608


def after_seeding(engine: Engine) -> None:
    """Statistics for the planner, and sequences past the ids we wrote ourselves."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("tickets", "ticket_log", "callbacks"):
                sequence = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                connection.execute(text(f"{sequence} coalesce(max(id), 1)) FROM {table}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(
            text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
        )


def seed(db: Database, calls: int, first: datetime, last: datetime, zone: tzinfo) -> dict[str, int]:
    """Write `calls` calls and what follows them; returns rows written per table."""
    engine = db.engine
    write = write_postgres if engine.dialect.name == "postgresql" else write_sqlite
    maker = CallMaker(first, last, zone)
    written: dict[str, int] = defaultdict(int)
    for start in range(0, calls, CHUNK):
        rows = maker.chunk(start, min(CHUNK, calls - start))
        write(engine, rows)
        for table, items in rows.tables():
            written[table] += len(items)
        print(f"  seeded {start + len(rows.calls):>9} calls", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    after_seeding(engine)
    return dict(written)


# --- timing ---------------------------------------------------------------------------------


@contextmanager
def statement_times(engine: Engine) -> Iterator[dict[str, float]]:
    """Seconds per SQL statement run inside the block, keyed by its first 90 characters."""
    spent: dict[str, float] = defaultdict(float)

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        began = conn.info["started"].pop()
        spent[" ".join(statement.split())[:90]] += time.perf_counter() - began

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed(step: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return times


def row(name: str, times: Sequence[float]) -> str:
    return f"| {name} | {statistics.median(times):.2f} s | {min(times):.2f} s |"


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12, help="spread the calls over these")
    parser.add_argument("--month", default="2026-11", help="the month reported on (the last)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sqlite", type=Path, default=None, help="keep the SQLite file here")
    parser.add_argument("--pdf", action="store_true", help="also print the PDF with Chromium")
    parser.add_argument("--no-seed", action="store_true", help="reuse what an earlier run seeded")
    return parser.parse_args(argv)


@dataclass
class Figures:
    """What one run measured, for the markdown it prints."""

    backend: str
    seeded: int = 0
    seed_s: float = 0.0
    written: dict[str, int] = field(default_factory=dict)
    month_calls: int = 0
    csv_bytes: int = 0
    times: dict[str, list[float]] = field(default_factory=dict)
    slowest: list[tuple[str, float]] = field(default_factory=list)


def first_month(period: Period, months: int) -> datetime:
    first = period.start
    for _ in range(months - 1):
        first = Period.month(first.year, first.month, period.tz).previous().start
    return first


def measure(args: argparse.Namespace, scratch: Path) -> Figures:
    os.environ.setdefault("IVR_DATA_DIR", str(scratch / "var"))
    sqlite = f"sqlite:///{args.sqlite or scratch / 'bench.sqlite3'}"
    url = os.environ.get("BENCH_POSTGRES_URL") or sqlite
    settings = load_settings().with_overrides(database_url=url)
    period = Period.parse_month(args.month, settings.timezone)
    upgrade(url)
    db = Database(url)
    figures = Figures(db.engine.dialect.name)
    print(f"{figures.backend}: {url.split('@')[-1]}", file=sys.stderr)
    if not args.no_seed:
        empty_tables(db.engine)
        began = time.perf_counter()
        first = first_month(period, args.months)
        figures.written = seed(db, args.calls, first, period.end, settings.timezone)
        figures.seed_s = time.perf_counter() - began
    clock = FrozenClock(period.end + timedelta(hours=6))

    def run_kpis() -> Any:
        with db.reader() as session:
            return kpis(session, period, settings, now=clock.now())

    def run_notable() -> Any:
        with db.reader() as session:
            return notable(session, period, settings)

    def run_report() -> Any:
        return build_report(db, period, scratch / "report", settings, clock, pdf=args.pdf)

    with statement_times(db.engine) as spent:
        figures.month_calls = run_kpis().calls
    figures.slowest = sorted(spent.items(), key=lambda item: -item[1])[:5]
    figures.times = {
        "KPI queries (`ivr.reporting.kpi.kpis`)": timed(run_kpis, args.repeat),
        "notable calls and tickets": timed(run_notable, args.repeat),
        "whole report: HTML + CSV" + (" + PDF" if args.pdf else ""): timed(run_report, args.repeat),
    }
    figures.csv_bytes = (scratch / "report" / "calls.csv").stat().st_size
    with db.reader() as session:
        figures.seeded = int(session.scalar(select(func.count()).select_from(Call)) or 0)
    db.dispose()
    return figures


def report_figures(figures: Figures, args: argparse.Namespace) -> None:
    print(f"\n### Monthly report on {figures.backend}: {figures.seeded:,} calls", end="")
    print(f" over {args.months} months\n")
    if figures.written:
        totals = ", ".join(f"{table} {count:,}" for table, count in figures.written.items())
        print(f"Seeded in {figures.seed_s:.0f} s: {totals}.")
    print(f"The month {args.month}: {figures.month_calls:,} inbound calls;", end="")
    print(f" calls.csv {figures.csv_bytes:,} bytes.\n")
    print("| step | median | best |\n|---|---|---|")
    for name, times in figures.times.items():
        print(row(name, times))
    print("\nSlowest statements of one KPI run:\n")
    for statement, seconds in figures.slowest:
        print(f"- {seconds:.2f} s `{statement}…`")


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    scratch = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        report_figures(measure(args, scratch), args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
