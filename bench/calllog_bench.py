"""Query benchmark of the console's call log: seed a call log, time its filtered pages.

    .venv/bin/python -m bench.calllog_bench                      # 20 000 calls, temp SQLite
    BENCH_POSTGRES_URL=postgresql+psycopg://user@host/bench \\
        .venv/bin/python -m bench.calllog_bench --calls 1000000  # PostgreSQL

It migrates the database, seeds `--calls` calls over a year (each with its events, a third
with a ticket, some breached, agents' wrap-ups with notes), then times what GET
/console/calls runs in SQL for each filter — the page query and the lookups for its rows —
`--repeat` times after a warm-up, and prints p50/p95/max per filter as markdown (also
written to bench/results/calllog-latest.md). PostgreSQL is loaded with COPY; the database
must be empty (or seeded by an earlier run: `--reuse`). `--explain` prints PostgreSQL's
plan for each query.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.orm import Session

from ivr.calllog.query import (
    PAGE_SIZE,
    CallLogFilters,
    Cursor,
    call_page,
    newest_first,
)
from ivr.config import PROJECT_ROOT
from ivr.console.calls import call_rows
from ivr.models import Call, CallEventRow, StaffRole, Ticket, User, WrapUp
from ivr.store.db import Database, upgrade

RESULTS = PROJECT_ROOT / "bench" / "results" / "calllog-latest.md"
ZONE = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 23, 21, 0, tzinfo=ZONE)
DAYS = 365
CHUNK = 5000
AGENTS = 20
TARGET_P95_MS = 100.0
RARE_WORD = "燃气表异响"  # said in about one call in ten thousand

CATEGORIES = [("repair", 40), ("inquiry", 30), ("complaint", 15), ("help", 5), ("suggestion", 5)]
OUTCOMES = [
    ("self_served", 35),
    ("agent_served", 30),
    ("transferred", 5),
    ("message", 10),
    ("callback", 3),
    ("abandoned", 12),
    ("failed", 5),
]
PHRASES = [
    "我家厨房漏水了",
    "卫生间下水道堵了",
    "楼道灯坏了",
    "电梯有异响",
    "物业费怎么交",
    "停车卡怎么办",
    "装修要办什么手续",
    "楼上太吵了",
    "门禁卡丢了",
    "空调外机滴水",
    "垃圾没有及时清运",
    "小区绿化需要修剪",
]
NOTES = ["已派维修工上门", "住户要求明早回电", "已转工程部处理", "住户对处理结果满意", ""]


# --- seeding --------------------------------------------------------------------------------


@dataclass
class Seeder:
    """Deterministic fake call log: the same seed gives the same rows."""

    calls: int
    random: random.Random
    agent_ids: Sequence[int]

    def pick(self, weighted: Sequence[tuple[str, int]]) -> str:
        names, weights = zip(*weighted, strict=True)
        return str(self.random.choices(names, weights)[0])

    def caller(self) -> str:
        return f"+86138{self.random.randrange(max(self.calls // 8, 10)):08d}"

    def unit(self) -> str:
        building, entrance = self.random.randint(1, 40), self.random.randint(1, 4)
        floor, door = self.random.randint(1, 30), self.random.randint(1, 4)
        return f"{building}栋{entrance}单元{floor}{door:02d}室"

    def said(self) -> str:
        if self.random.random() < 0.0001:
            return RARE_WORD
        return self.random.choice(PHRASES)

    def one(self, n: int) -> dict[str, list[dict[str, Any]]]:
        """A call with its events, and maybe a ticket and a wrap-up."""
        sid = f"CA{n:032x}"
        started = END - timedelta(seconds=self.random.randrange(DAYS * 86400))
        said, category = self.said(), self.pick(CATEGORIES)
        outcome = self.pick(OUTCOMES)
        agent = self.random.choice(self.agent_ids) if outcome == "agent_served" else None
        call: dict[str, Any] = {
            "call_sid": sid,
            "started_at": started,
            "ended_at": started + timedelta(seconds=90),
            "caller_number": self.caller(),
            "called_number": "+8657112345678",
            "caller_name": None,
            "unit": self.unit() if self.random.random() < 0.7 else None,
            "locale": "zh-CN",
            "category": category,
            "content": f"main_menu: said “{said}” -> {category}",
            "outcome": outcome,
            "handler": None,
            "status": "completed",
            "duration_s": self.random.randint(20, 600),
            "queue": None,
            "direction": "outbound" if self.random.random() < 0.1 else "inbound",
            "agent_id": agent,
        }
        rows: dict[str, list[dict[str, Any]]] = {
            "calls": [call],
            "call_events": self.events(sid, started, said, category),
        }
        if category in {"repair", "complaint"} and self.random.random() < 0.8:
            rows["tickets"] = [self.ticket(n, sid, started, category, call["caller_number"])]
        if agent is not None and self.random.random() < 0.8:
            rows["wrap_ups"] = [self.wrap_up(sid, agent, started)]
        return rows

    def events(self, sid: str, at: datetime, said: str, category: str) -> list[dict[str, Any]]:
        steps = [
            ("call_started", "", {"from": "+86", "to": "+8657112345678"}),
            ("greeted", "welcome", {"response_ms": 2.5}),
            ("speech", "main_menu", {"text": said, "goto": category}),
            ("routed", "main_menu", {"category": category}),
            ("handoff", "general_queue", {"queue": "general"}),
            ("status", "status", {"status": "completed", "duration_s": 90}),
        ]
        return [
            {
                "dedupe_key": f"{sid}:{seq}:{kind}",
                "call_sid": sid,
                "kind": kind,
                "seq": seq,
                "node": node,
                "at": at + timedelta(seconds=seq * 10),
                "detail": detail,
            }
            for seq, (kind, node, detail) in enumerate(steps)
        ]

    def ticket(self, n: int, sid: str, at: datetime, kind: str, caller: str) -> dict[str, Any]:
        return {
            "number": f"{n:09d}",
            "number_year": at.year,
            "kind": kind,
            "priority": "normal",
            "category": "plumbing",
            "sla_tier": "small",
            "status": "closed",
            "caller_number": caller,
            "locale": "zh-CN",
            "description": "",
            "call_sid": sid,
            "created_at": at,
            "escalation_level": 1,
            "breached_at": at + timedelta(days=1) if self.random.random() < 0.04 else None,
            "transcription": None,
        }

    def wrap_up(self, sid: str, agent: int, at: datetime) -> dict[str, Any]:
        return {
            "call_sid": sid,
            "agent_id": agent,
            "disposition": "resolved",
            "notes": self.random.choice(NOTES),
            "created_at": at,
            "updated_at": at,
        }


TABLES = {
    "calls": Call.__table__,
    "call_events": CallEventRow.__table__,
    "tickets": Ticket.__table__,
    "wrap_ups": WrapUp.__table__,
}


def write_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (ten times faster than INSERTs at a million rows), else INSERT."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([_copy_value(row[column]) for column in columns])


def _copy_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value


def add_agents(db: Database) -> list[int]:
    now = END.astimezone(UTC)
    with db.session() as session:
        users = [
            User(
                username=f"agent{n:02d}",
                display_name=f"坐席{n:02d}",
                password_hash="-",  # noqa: S106 - no password: nobody signs in as these
                role=StaffRole.AGENT,
                phone=f"+86139{n:08d}",
                failed_logins=0,
                created_at=now,
            )
            for n in range(AGENTS)
        ]
        session.add_all(users)
        session.flush()
        return [user.id for user in users]


def seed(db: Database, calls: int, seed_value: int, progress: Callable[[str], None]) -> None:
    seeder = Seeder(calls, random.Random(seed_value), add_agents(db))
    started = time.monotonic()
    for first in range(0, calls, CHUNK):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for n in range(first, min(first + CHUNK, calls)):
            for name, rows in seeder.one(n).items():
                batch[name] += rows
        with db.engine.begin() as connection:
            for name, table in TABLES.items():
                write_rows(connection, table, batch[name])  # type: ignore[arg-type]
        done = min(first + CHUNK, calls)
        progress(f"seeded {done}/{calls} calls ({time.monotonic() - started:.0f} s)")
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


# --- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    label: str
    args: Mapping[str, str]
    deep: bool = False  # start 20 pages in, from a cursor


def scenarios(db: Database) -> list[Scenario]:
    """The filters a supervisor uses, with values that exist in the seeded log."""
    with db.reader() as session:
        sample = session.scalars(newest_first(select(Call)).limit(1)).one()
        agent = session.scalar(select(func.min(User.id)))
    last_day = sample.started_at.astimezone(ZONE).date()
    week_ago = last_day - timedelta(days=6)
    unit = sample.unit or "1栋1单元101室"
    return [
        Scenario("newest, no filter", {}),
        Scenario("page 21, no filter", {}, deep=True),
        Scenario("one day", {"from": str(last_day), "to": str(last_day)}),
        Scenario("one week", {"from": str(week_ago), "to": str(last_day)}),
        Scenario("category=complaint", {"category": "complaint"}),
        Scenario("category + week", {"category": "complaint", "from": str(week_ago)}),
        Scenario("outcome=abandoned", {"outcome": "abandoned"}),
        Scenario("outcome, page 21", {"outcome": "abandoned"}, deep=True),
        Scenario("direction=outbound", {"direction": "outbound"}),
        Scenario("unit (whole label)", {"unit": unit}),
        Scenario("caller (whole number)", {"caller": sample.caller_number}),
        Scenario("caller (last 4 digits)", {"caller": sample.caller_number[-4:]}),
        Scenario("agent", {"agent": str(agent)}),
        Scenario("breached SLA", {"breached": "true"}),
        Scenario("search, common words", {"q": "漏水"}),
        Scenario("search, rare words", {"q": RARE_WORD}),
        Scenario("search + week", {"q": "漏水", "from": str(week_ago)}),
    ]


def deep_cursor(db: Database, filters: CallLogFilters, pages: int = 20) -> Cursor | None:
    with db.reader() as session:
        query = newest_first(filters.query()).offset(pages * PAGE_SIZE - 1).limit(1)
        row = session.scalars(query).first()
    return (row.started_at, row.id) if row else None


def one_page(db: Database, filters: CallLogFilters, older: Cursor | None) -> int:
    """What the call-log page asks the database: the page, then its rows' agents and SLAs."""
    with db.reader() as session:
        page = call_page(session, filters, older)
        call_rows(session, page.calls, ZONE)
        return len(page.calls)


@dataclass(frozen=True)
class Timing:
    scenario: Scenario
    rows: int
    samples_ms: list[float]

    def percentile(self, p: int) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=100, method="inclusive")[p - 1]


def time_scenario(db: Database, scenario: Scenario, repeat: int) -> Timing:
    filters = CallLogFilters.from_args(scenario.args, ZONE)
    older = deep_cursor(db, filters) if scenario.deep else None
    for _ in range(2):  # warm the cache and the connection pool
        rows = one_page(db, filters, older)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        one_page(db, filters, older)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(scenario, rows, samples)


def explain(db: Database, scenario: Scenario) -> str:
    filters = CallLogFilters.from_args(scenario.args, ZONE)
    older = deep_cursor(db, filters) if scenario.deep else None
    query = newest_first(filters.query(), older).limit(PAGE_SIZE + 1)
    with db.engine.connect() as connection:
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        plan = connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
        return "\n".join(str(line[0]) for line in plan)


def report(db: Database, timings: Sequence[Timing], seconds: float) -> str:
    with Session(db.engine) as session:
        calls = session.scalar(select(func.count()).select_from(Call)) or 0
        events = session.scalar(select(func.count()).select_from(CallEventRow)) or 0
    backend = db.engine.dialect.name
    lines = [
        f"# Call-log queries: {calls:,} calls, {events:,} events ({backend})",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {len(timings[0].samples_ms)} runs a row "
        f"after a warm-up; the page query plus its rows' agent and SLA lookups. "
        f"Target: p95 under {TARGET_P95_MS:.0f} ms. Seeding and timing took {seconds:.0f} s.",
        "",
        "| filter | rows | p50 ms | p95 ms | max ms | target |",
        "|---|---|---|---|---|---|",
    ]
    for timing in timings:
        p95 = timing.percentile(95)
        lines.append(
            f"| {timing.scenario.label} | {timing.rows} | {timing.percentile(50):.1f} "
            f"| {p95:.1f} | {max(timing.samples_ms):.1f} "
            f"| {'met' if p95 < TARGET_P95_MS else 'MISSED'} |"
        )
    return "\n".join(lines) + "\n"


# --- the command ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000, help="calls to seed (20000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per filter (30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument("--reuse", action="store_true", help="time an already seeded database")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plans")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the report")
    return parser.parse_args(argv)


def database_url(workdir: Path) -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or f"sqlite:///{workdir / 'calllog.sqlite3'}"


def prepare(db: Database, options: argparse.Namespace, progress: Callable[[str], None]) -> None:
    upgrade(db.url)
    with db.reader() as session:
        existing = session.scalar(select(func.count()).select_from(Call)) or 0
    if existing and not options.reuse:
        raise SystemExit(
            f"the database already holds {existing} calls: point BENCH_POSTGRES_URL at an"
            " empty database, or pass --reuse to time what is there"
        )
    if not existing:
        seed(db, options.calls, options.seed, progress)


def run(options: argparse.Namespace, workdir: Path) -> str:
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.monotonic()
    db = Database(database_url(workdir))
    try:
        prepare(db, options, progress)
        timings = []
        for scenario in scenarios(db):
            timings.append(time_scenario(db, scenario, options.repeat))
            progress(f"timed {scenario.label}")
            if options.explain and db.engine.dialect.name == "postgresql":
                progress(explain(db, scenario))
        return report(db, timings, time.monotonic() - started)
    finally:
        db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if not 1 <= options.calls <= 5_000_000 or not 1 <= options.repeat <= 1000:
        raise SystemExit("--calls must be 1..5000000 and --repeat 1..1000")
    with tempfile.TemporaryDirectory(prefix="ivr-calllog-bench-") as workdir:
        text_report = run(options, Path(workdir))
    print(text_report)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text_report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
