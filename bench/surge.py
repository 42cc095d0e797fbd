"""A surge: many residents phoning a real hotline (`ivr run`) at once for minutes, each
placing one scripted complaint call after another with a short pause between webhooks;
then whether the workers kept up: the call-log backlog, the events and tickets stored,
and how long each confirmation SMS took to leave after the caller heard its number.

    .venv/bin/python -m bench.surge                      # 50 callers, 5 min, SQLite; ~25 min
    .venv/bin/python -m bench.surge --duration 30 --workers 2 --per-webhook-workers 0
    .venv/bin/python -m bench.surge --database-url postgresql+psycopg://postgres@127.0.0.1/surge

Each row is a hotline of its own, started afresh on an empty database (a PostgreSQL
database given with --database-url is emptied before each row). The "one job per
webhook" row turns off taking the queued call-log jobs along
(IVR_CALL_LOG_TAKE_AT_MOST=0), so each webhook's events are stored in a transaction of
their own.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from bench.cpu import OtherCpu, process_cpu_s
from ivr.models import CallEventRow, MessageStatus, OutboundMessage, Ticket
from ivr.queues import CALL_LOG_QUEUE, OUTBOUND_QUEUE
from ivr.store.db import upgrade
from ivr.voice.readiness import queue_backlog
from tests.faults.harness import (
    CallResult,
    Hotline,
    Poster,
    RedisServer,
    _action,
    _said,
    events_per_call,
    running_hotline,
    sms_duplicates,
)
from tests.processes import session_processes
from tests.records import empty_postgres
from tests.twilio_fake import Verb, call_params
from worker.call_log_batches import HANDS_KEY, TAKE_AT_MOST_VARIABLE

SMS_PROMISE_S = 300.0  # R9: the confirmation SMS within five minutes of the call
SAMPLE_EVERY_S = 1.0
PROGRESS_EVERY_S = 30.0
SPEECH = "楼道里的垃圾三天没人收了"
SETTLED_SMS = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN)


@dataclass
class SurgeCall(CallResult):
    by_sms: bool = False  # told the ticket number comes by SMS
    confirmed_at: float | None = None  # wall clock (epoch s) the caller heard the ticket
    latencies_s: list[float] = field(default_factory=list)


def timed_post(hotline: Poster, call: SurgeCall, path: str, params: dict[str, str]) -> list[Verb]:
    started = time.perf_counter()
    try:
        return hotline.post(path, params)
    finally:
        call.latencies_s.append(time.perf_counter() - started)


def complaint_call_with_pauses(hotline: Poster, sid: str, caller: str, think_s: float) -> SurgeCall:
    """The harness's complaint call, with a resident's pause before each of their answers:
    greeted, complaint (2), the building (2), its 单元 (1), the room (1203, which the demo
    estate has), confirmed (1), a complaint about hygiene (2), said in words, the rating (1),
    then Twilio's status callback."""
    call = SurgeCall(sid)
    try:
        verbs = timed_post(hotline, call, "/voice/incoming", call_params(sid, caller))
        call.greeted = any("您好" in said for said in _said(verbs))
        for digits in ("2", "2", "1", "1203", "1", "2"):
            time.sleep(think_s)
            verbs = timed_post(
                hotline, call, _action(verbs), call_params(sid, caller, Digits=digits)
            )
        time.sleep(think_s)
        spoken = call_params(sid, caller, SpeechResult=SPEECH, Confidence="0.9")
        verbs = timed_post(hotline, call, _action(verbs), spoken)
        call.confirmed_at = time.time()
        told = next(said for said in _said(verbs) if "投诉单号" in said)
        if "投诉单号是" in told:
            call.number = told.split("投诉单号是", 1)[1].split("。", 1)[0].replace(" ", "")
        else:
            call.by_sms = True
        time.sleep(think_s)
        timed_post(hotline, call, _action(verbs), call_params(sid, caller, Digits="1"))
        time.sleep(think_s)
        ended = call_params(sid, caller, CallStatus="completed")
        timed_post(hotline, call, "/voice/status", ended)
    except (requests.RequestException, StopIteration, KeyError) as error:
        call.error = f"{type(error).__name__}: {error}"
    return call


@dataclass
class Calls:
    """Every call placed so far, from all the residents' threads."""

    placed: list[SurgeCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: SurgeCall) -> None:
        with self.lock:
            self.placed.append(call)

    def count(self) -> int:
        with self.lock:
            return len(self.placed)


def resident(
    hotline: Poster, index: int, prefix: str, think_s: float, until: float, calls: Calls
) -> None:
    """One resident after another on the same line: a new call as soon as one ends, each
    with its own CallSid and caller number, until the surge is over."""
    n = 0
    while time.monotonic() < until:
        sid, caller = f"{prefix}{index:03d}{n:05d}", f"+86139{index:03d}{n:05d}"
        call = complaint_call_with_pauses(hotline, sid, caller, think_s)
        calls.add(call)
        if call.error:  # a hotline that refuses at once must not be called in a tight loop
            time.sleep(think_s)
        n += 1


@dataclass
class Sample:
    at: float  # monotonic
    jobs: int  # call-log jobs waiting
    oldest_s: float  # how long the oldest of them has waited
    in_hand: int  # call-log jobs taken along by a worker, being stored
    sms_jobs: int
    sms_oldest_s: float


class Backlog:
    """The call-log queue, sampled once a second straight from the hotline's Redis, as
    /readyz measures it (ivr.voice.readiness.queue_backlog)."""

    def __init__(self, redis_url: str) -> None:
        self.redis = Redis.from_url(redis_url, socket_timeout=2)
        self.samples: list[Sample] = []
        self.load_ended: float | None = None
        self.drained_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backlog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.redis.close()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            with suppress(RedisError, OSError):
                self._take(self._sample())

    def _sample(self) -> Sample:
        at = time.time()
        jobs, oldest = queue_backlog(self.redis, CALL_LOG_QUEUE, at)
        sms_jobs, sms_oldest = queue_backlog(self.redis, OUTBOUND_QUEUE, at)
        hands = self.redis.smembers(HANDS_KEY)
        in_hand = sum(int(self.redis.llen(hand)) for hand in hands)
        return Sample(time.monotonic(), jobs, oldest, in_hand, sms_jobs, sms_oldest)

    def _take(self, sample: Sample) -> None:
        self.samples.append(sample)
        after_load = self.load_ended is not None
        if after_load and self.drained_at is None and not sample.jobs + sample.in_hand:
            self.drained_at = sample.at

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def describe(self) -> str:
        latest = self.latest
        if latest is None:
            return "not sampled yet"
        return (
            f"{latest.jobs} jobs waiting (oldest {latest.oldest_s:.1f} s), {latest.in_hand} in"
            f" hand; SMS queue {latest.sms_jobs}"
        )

    @property
    def max_age_s(self) -> float:
        return max((s.oldest_s for s in self.samples), default=0.0)

    @property
    def max_jobs(self) -> int:
        return max((s.jobs + s.in_hand for s in self.samples), default=0)

    @property
    def max_sms_age_s(self) -> float:
        return max((s.sms_oldest_s for s in self.samples), default=0.0)

    @property
    def drain_s(self) -> float | None:
        if self.load_ended is None or self.drained_at is None:
            return None
        return max(0.0, self.drained_at - self.load_ended)


@dataclass
class Stored:
    """What the database holds for the surge's calls."""

    events: Counter[str]
    tickets: dict[str, tuple[int, str]]  # CallSid: (ticket id, number)
    sms_sent_at: dict[int, datetime]  # ticket id: when its confirmation SMS left


def stored_for(database_url: str, prefix: str) -> Stored:
    """One pass over the tables (by CallSid prefix, not a list of thousands of CallSids)."""
    engine = create_engine(database_url)
    ours = f"{prefix}%"
    with engine.connect() as connection:
        events: Counter[str] = Counter()
        for sid, count in connection.execute(
            select(CallEventRow.call_sid, func.count())
            .where(CallEventRow.call_sid.like(ours))
            .group_by(CallEventRow.call_sid)
        ):
            events[str(sid)] = int(count)
        tickets = {
            str(sid): (int(ticket_id), str(number))
            for ticket_id, sid, number in connection.execute(
                select(Ticket.id, Ticket.call_sid, Ticket.number).where(Ticket.call_sid.like(ours))
            )
        }
        sent = connection.execute(
            select(OutboundMessage.dedupe_key, OutboundMessage.sent_at).where(
                OutboundMessage.purpose == "confirmation",
                OutboundMessage.status == MessageStatus.SENT,
            )
        )
        sms_sent_at = {
            int(key.split(":")[1]): at for key, at in sent if key.startswith("ticket:") and at
        }
    engine.dispose()
    return Stored(events, tickets, sms_sent_at)


@dataclass(frozen=True)
class Owed:
    """What the finished calls should have left in the database."""

    events: int
    tickets: int


def caught_up(database_url: str, prefix: str, owed: Owed) -> bool:
    """Cheap counts, polled: every event and ticket stored, and no SMS still to send."""
    engine = create_engine(database_url)
    ours = f"{prefix}%"
    with engine.connect() as connection:
        stored_events = connection.scalar(
            select(func.count()).select_from(CallEventRow).where(CallEventRow.call_sid.like(ours))
        )
        stored_tickets = connection.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.call_sid.like(ours))
        )
        unsent = connection.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.status.not_in(SETTLED_SMS))
        )
    engine.dispose()
    return (
        (stored_events or 0) >= owed.events and (stored_tickets or 0) >= owed.tickets and not unsent
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class SurgeResult:
    workers: int
    per_webhook: bool
    calls: list[SurgeCall]
    per_call: int
    stored: Stored
    backlog: Backlog
    sms_duplicates: int
    caught_up_s: float | None
    own_cpu: float
    other_cpu: float | None

    @property
    def finished(self) -> list[SurgeCall]:
        return [c for c in self.calls if not c.error]

    @property
    def failed(self) -> list[str]:
        return [f"{c.sid}: {c.error}" for c in self.calls if c.error]

    @property
    def greeted(self) -> int:
        return sum(c.greeted for c in self.calls)

    @property
    def by_sms(self) -> int:
        return sum(c.by_sms for c in self.calls)

    @property
    def events_expected(self) -> int:
        return self.per_call * len(self.finished)

    @property
    def events_stored(self) -> int:
        return sum(self.stored.events[c.sid] for c in self.finished)

    @property
    def promised(self) -> list[SurgeCall]:
        """Calls that went to the end: each was told of a ticket and is owed its SMS."""
        return [c for c in self.finished if c.greeted]

    @property
    def tickets_stored(self) -> int:
        return sum(1 for c in self.promised if c.sid in self.stored.tickets)

    @property
    def numbers_wrong(self) -> int:
        tickets = self.stored.tickets
        return sum(
            1 for c in self.promised if c.number and tickets.get(c.sid, (0, ""))[1] != c.number
        )

    @property
    def sms_delays_s(self) -> list[float]:
        """From the caller hearing the ticket to its confirmation SMS leaving."""
        delays = []
        for call in self.promised:
            ticket = self.stored.tickets.get(call.sid)
            sent = self.stored.sms_sent_at.get(ticket[0]) if ticket else None
            if sent is not None and call.confirmed_at is not None:
                delays.append(sent.timestamp() - call.confirmed_at)
        return delays

    @property
    def latencies_s(self) -> list[float]:
        return [s for c in self.calls for s in c.latencies_s]


@contextmanager
def call_log_taking(per_webhook: bool) -> Iterator[None]:
    """The hotline's workers inherit this process's environment (Hotline.start)."""
    before = os.environ.get(TAKE_AT_MOST_VARIABLE)
    if per_webhook:
        os.environ[TAKE_AT_MOST_VARIABLE] = "0"
    else:
        os.environ.pop(TAKE_AT_MOST_VARIABLE, None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TAKE_AT_MOST_VARIABLE, None)
        else:
            os.environ[TAKE_AT_MOST_VARIABLE] = before


@dataclass
class Load:
    calls: list[SurgeCall]
    backlog: Backlog
    caught_up_s: float | None  # from the last call until all was stored and sent; None: never
    own_cpu: float  # the residents' CPU time over wall time (1.0 = one core)
    other_cpu: float | None  # cores the rest of the host used meanwhile (bench.cpu)


class HotlineCpu(OtherCpu):
    """OtherCpu for `ivr run`: supervisord puts each child in a process group of its own,
    but all stay in the session the hotline was started in (Hotline.start), so `group`
    is that session here."""

    def _ours_now(self) -> dict[int, float]:
        pids = [*session_processes(self.group, ""), *self.pids]
        return {pid: process_cpu_s(pid) for pid in pids}


def surge(
    hotline: Hotline,
    redis: RedisServer,
    *,
    per_call: int,
    callers: int,
    think_s: float,
    duration_s: float,
    settle_s: float,
    prefix: str,
) -> Load:
    """`callers` residents at once for `duration_s`; then up to `settle_s` for the call
    log and the SMS to catch up."""
    assert hotline.process
    assert redis.process
    calls, backlog = Calls(), Backlog(redis.url)
    backlog.start()
    others = HotlineCpu(hotline.process.pid, (redis.process.pid, os.getpid()))
    others.start()
    cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    until = started + duration_s
    # Daemons: a bench stopped early must not wait for the residents to hang up.
    threads = [
        threading.Thread(
            target=resident, args=(hotline, n, prefix, think_s, until, calls), daemon=True
        )
        for n in range(callers)
    ]
    for thread in threads:
        thread.start()
    report_progress(calls, backlog, started, until)
    for thread in threads:
        thread.join()
    ended = backlog.load_ended = time.monotonic()
    own_cpu = cpu_share(cpu_before, ended - started)
    other_cpu = others.stop(ended - started, 0.0)
    finished = [c for c in calls.placed if not c.error]
    owed = Owed(per_call * len(finished), sum(1 for c in finished if c.greeted))
    settled = wait_to_catch_up(hotline.database_url, prefix, owed, backlog, settle_s)
    backlog.stop()
    caught_up_s = settled - ended if settled else None
    return Load(calls.placed, backlog, caught_up_s, own_cpu, other_cpu)


def cpu_share(before: resource.struct_rusage, wall_s: float) -> float:
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / wall_s if wall_s > 0 else 0.0


def report_progress(calls: Calls, backlog: Backlog, started: float, until: float) -> None:
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(PROGRESS_EVERY_S, left))
        print(
            f"  {time.monotonic() - started:5.0f} s: {calls.count()} calls;"
            f" call log {backlog.describe()}",
            file=sys.stderr,
        )


def wait_to_catch_up(
    database_url: str, prefix: str, owed: Owed, backlog: Backlog, settle_s: float
) -> float | None:
    """Polls (every 2 s, to leave the workers the CPU) until the queue is empty and the
    database holds every event and ticket owed, with no SMS left to send; returns the
    moment it did, or None."""
    started = time.monotonic()
    deadline, said = started + settle_s, started
    while time.monotonic() < deadline:
        if backlog.drained_at is not None:
            with suppress(SQLAlchemyError):
                if caught_up(database_url, prefix, owed):
                    return time.monotonic()
        time.sleep(2)
        if time.monotonic() - said >= PROGRESS_EVERY_S:
            said = time.monotonic()
            print(
                f"  {said - started:5.0f} s after: call log {backlog.describe()}", file=sys.stderr
            )
    return None


def run_surge(
    folder: Path,
    database_url: str,
    *,
    workers: int,
    per_webhook: bool = False,
    callers: int = 50,
    think_s: float = 0.2,
    duration_s: float = 300.0,
    settle_s: float = 600.0,
    prefix: str = "CAsurge",
) -> SurgeResult:
    """One hotline of `workers` workers through one surge, counted afterwards."""
    with (
        call_log_taking(per_webhook),
        running_hotline(folder, database_url, workers) as (
            redis,
            hotline,
        ),
    ):
        per_call = events_per_call(hotline)
        load = surge(
            hotline,
            redis,
            per_call=per_call,
            callers=callers,
            think_s=think_s,
            duration_s=duration_s,
            settle_s=settle_s,
            prefix=prefix,
        )
        found = stored_for(database_url, prefix)
        return SurgeResult(
            workers=workers,
            per_webhook=per_webhook,
            calls=sorted(load.calls, key=lambda c: c.sid),
            per_call=per_call,
            stored=found,
            backlog=load.backlog,
            sms_duplicates=sms_duplicates(hotline.folder),
            caught_up_s=load.caught_up_s,
            own_cpu=load.own_cpu,
            other_cpu=load.other_cpu,
        )


def empty_database(database_url: str) -> None:
    """Migrated, and with no rows left from an earlier run (a SQLite file is new anyway)."""
    upgrade(database_url)
    if not database_url.startswith("sqlite"):
        empty_postgres(database_url)


def database_name(database_url: str) -> str:
    return "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"


def ms(values: Sequence[float]) -> str:
    return "/".join(f"{percentile(values, q) * 1000:.0f}" for q in (0.5, 0.99, 1.0))


def seconds(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return "/".join(f"{percentile(values, q):.1f}" for q in (0.5, 0.99, 1.0))


def at_most(value: float | None, limit_s: float) -> str:
    return f"{value:.0f}" if value is not None else f"> {limit_s:.0f}"


COLUMNS = (
    "database",
    "workers",
    "call log",
    "calls",
    "greeted",
    "number by SMS",
    "failed",
    "webhook ms p50/p99/max",
    "events stored/expected",
    "tickets stored/promised",
    "wrong numbers",
    "SMS sent/owed",
    "SMS delay s p50/p99/max",
    "SMS > 5 min",
    "duplicate SMS",
    "max backlog s",
    "max backlog jobs",
    "drain s",
    "caught up s",
    "other CPU",
)


def row(database: str, found: SurgeResult, settle_s: float) -> list[str]:
    delays = found.sms_delays_s
    return [
        database,
        str(found.workers),
        "one job per webhook" if found.per_webhook else "taken in bulk",
        str(len(found.calls)),
        f"{found.greeted}/{len(found.calls)}",
        str(found.by_sms),
        str(len(found.failed)),
        ms(found.latencies_s),
        f"{found.events_stored}/{found.events_expected}",
        f"{found.tickets_stored}/{len(found.promised)}",
        str(found.numbers_wrong),
        f"{len(delays)}/{len(found.promised)}",
        seconds(delays),
        str(sum(1 for d in delays if d > SMS_PROMISE_S)),
        str(found.sms_duplicates),
        f"{found.backlog.max_age_s:.1f}",
        str(found.backlog.max_jobs),
        at_most(found.backlog.drain_s, settle_s),
        at_most(found.caught_up_s, settle_s),
        "?" if found.other_cpu is None else f"{found.other_cpu:.2f}",
    ]


def report(rows: list[list[str]], options: argparse.Namespace, notes: list[str]) -> str:
    lines = [
        f"Surge: {options.callers} callers, {options.think} s think time, {options.duration:.0f} s;"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(cells) + " |" for cells in rows),
        "",
        *notes,
    ]
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--callers", type=int, default=50, help="residents phoning at once")
    parser.add_argument("--think", type=float, default=0.2, help="seconds between webhooks")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of calls")
    parser.add_argument("--workers", default="1,2", help="worker counts, one row each")
    parser.add_argument(
        "--per-webhook-workers",
        type=int,
        default=-1,
        help="workers for the one-job-per-webhook row (default: the most of --workers; 0: no row)",
    )
    parser.add_argument(
        "--settle", type=float, default=600.0, help="longest wait for the call log to catch up"
    )
    parser.add_argument("--database-url", default="", help="default: a SQLite file per run")
    parser.add_argument("--output", default="bench/results/surge.md")
    return parser.parse_args(argv)


def plan_rows(options: argparse.Namespace) -> list[tuple[int, bool]]:
    counts = [int(x) for x in options.workers.split(",") if x]
    per_webhook = options.per_webhook_workers
    if per_webhook < 0:
        per_webhook = max(counts, default=0)
    return [(n, False) for n in counts] + ([(per_webhook, True)] if per_webhook else [])


def stop_on_term(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the hotline and its Redis are stopped too."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_term)
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ivr-surge-") as scratch:
        for index, (workers, per_webhook) in enumerate(plan_rows(options)):
            folder = Path(scratch) / f"run{index}"
            folder.mkdir()
            url = options.database_url or f"sqlite:///{folder / 'ivr.sqlite3'}"
            empty_database(url)
            mode = "one job per webhook" if per_webhook else "taken in bulk"
            print(f"{database_name(url)}, {workers} workers, {mode} ...", file=sys.stderr)
            found = run_surge(
                folder,
                url,
                workers=workers,
                per_webhook=per_webhook,
                callers=options.callers,
                think_s=options.think,
                duration_s=options.duration,
                settle_s=options.settle,
                prefix=f"CA{index:02d}s",
            )
            for failure in found.failed[:5]:
                print(f"  failed: {failure}", file=sys.stderr)
            rows.append(row(database_name(url), found, options.settle))
            notes.append(
                f"- {workers} worker{'' if workers == 1 else 's'}, {mode}: the residents' own"
                f" load used"
                f" {found.own_cpu:.2f} cores; the SMS queue's oldest job waited at most"
                f" {found.backlog.max_sms_age_s:.1f} s."
            )
            print("  " + " | ".join(rows[-1]), file=sys.stderr)
    table = report(rows, options, notes)
    print(table, end="")
    output = Path(options.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
