"""Gunicorn under test: one app, one worker configuration, one free 127.0.0.1 port at a time."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.calls import AUTH_TOKEN, SignedRequest
from ivr.config import PROJECT_ROOT
from ivr.store.redis_link import EmbeddedRedis, connect_patient

CALL_LOG_QUEUE_KEY = "rq:queue:call-log"
API_TOKEN = "bench-api-token"
SECRET_KEY = "bench-secret-key"


class ServerError(RuntimeError):
    """A server did not start or did not answer as it should; the message says why."""


@dataclass(frozen=True)
class ServerConfig:
    """Gunicorn worker settings, written `sync:5` or `gthread:3x4` (workers x threads)."""

    worker_class: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        worker_class, _, shape = text.strip().partition(":")
        workers, _, threads = shape.partition("x")
        try:
            config = cls(worker_class, int(workers), int(threads or 1))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad config {text!r}: {exc}") from exc
        if config.worker_class not in {"sync", "gthread"}:
            raise argparse.ArgumentTypeError(f"{text!r}: the worker class is sync or gthread")
        if not (1 <= config.workers <= 32 and 1 <= config.threads <= 64):
            raise argparse.ArgumentTypeError(f"{text!r}: 1-32 workers and 1-64 threads")
        if config.worker_class == "sync" and config.threads != 1:
            raise argparse.ArgumentTypeError(f"{text!r}: a sync worker has one thread")
        return config

    @property
    def name(self) -> str:
        if self.worker_class == "sync":
            return f"sync:{self.workers}"
        return f"gthread:{self.workers}x{self.threads}"

    def gunicorn_args(self) -> list[str]:
        args = ["--worker-class", self.worker_class, "--workers", str(self.workers)]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return args


def default_configs() -> list[ServerConfig]:
    cores = os.cpu_count() or 1
    return [
        ServerConfig("sync", 2 * cores + 1),  # what `ivr web` runs today
        ServerConfig("gthread", cores + 1, 4),
    ]


@dataclass(frozen=True)
class Target:
    label: str
    app: str
    redis: str  # "none", "up" or "down"
    checks_signatures: bool


FLOOR = Target("floor", "bench.floor_app:app", "none", checks_signatures=False)
HOTLINE = Target("hotline", "ivr.wsgi:app", "up", checks_signatures=True)
HOTLINE_REDIS_DOWN = Target("hotline, Redis down", "ivr.wsgi:app", "down", checks_signatures=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port_url() -> str:
    """A Redis URL where nothing listens: every connection is refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


@dataclass
class Workspace:
    """The temp folder of one benchmark run: data dir, logs, scripts, embedded Redis."""

    root: Path
    redis_url: str = ""
    embedded: EmbeddedRedis | None = None
    access_log: bool = True
    redis_pid: int | None = None  # the embedded server's, to count its CPU as ours

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'ivr.sqlite3'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"  # ivr.config puts the spool here

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def env(self, port: int, redis_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("IVR_TRUSTED_PROXIES", None)
        env.update(
            IVR_ENV="development",
            IVR_DATA_DIR=str(self.data_dir),
            DATABASE_URL=self.database_url,
            REDIS_URL=redis_url,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            IVR_API_TOKEN=API_TOKEN,
            SECRET_KEY=SECRET_KEY,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            PYTHONUNBUFFERED="1",
        )
        return env

    def count_logged(self, target: Target) -> int | None:
        """Call-log batches so far: jobs in the RQ queue (Redis up) or files in the spool."""
        if target.redis == "up":
            redis = connect_patient(self.redis_url)
            try:
                return int(redis.llen(CALL_LOG_QUEUE_KEY))
            finally:
                redis.close()
        if target.redis == "down":
            return len(list(self.spool_dir.glob("*.json"))) if self.spool_dir.is_dir() else 0
        return None

    def reset_event_stores(self) -> None:
        """An empty spool and (embedded Redis only: never someone else's) an empty Redis."""
        for path in self.spool_dir.glob("*.json") if self.spool_dir.is_dir() else ():
            path.unlink()
        if self.embedded is not None:
            redis = connect_patient(self.redis_url)
            try:
                redis.flushdb()
            finally:
                redis.close()


@dataclass
class Server:
    target: Target
    config: ServerConfig
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def gunicorn(workspace: Workspace, target: Target, config: ServerConfig) -> Iterator[Server]:
    """Start gunicorn, wait for /healthz, yield; then stop master and workers, always."""
    port = free_port()
    redis_url = closed_port_url() if target.redis == "down" else workspace.redis_url
    name = f"{target.app.split(':')[0]}-{config.name.replace(':', '-')}-{port}"
    log_path = workspace.logs / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(PROJECT_ROOT),
        *config.gunicorn_args(),
        "--graceful-timeout",
        "5",
        "--error-logfile",
        "-",
    ]
    if workspace.access_log:
        command += ["--access-logfile", str(workspace.logs / f"{name}.access.log")]
    command.append(target.app)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=workspace.env(port, redis_url),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own: master and workers stop together
        )
    server = Server(target, config, port, process, log_path)
    try:
        wait_healthy(server)
        yield server
    finally:
        stop(server)


def wait_healthy(server: Server, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"{server.base_url}/healthz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"gunicorn exited early:\n{server.log_tail()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as reply,  # noqa: S310 - our 127.0.0.1
        ):
            if reply.status == 200:
                return
        time.sleep(0.1)
    raise ServerError(f"no healthy answer from {url} in {timeout_s:.0f} s:\n{server.log_tail()}")


def stop(server: Server) -> None:
    """SIGTERM to the master (it stops its workers), then make sure the whole group is gone."""
    process = server.process
    group = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # workers may outlive their master by a moment
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def post(server: Server, request: SignedRequest, signature: str | None = None) -> tuple[int, str]:
    sent = urllib.request.Request(  # noqa: S310 - our own 127.0.0.1
        server.base_url + request.path,
        data=request.body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": request.signature if signature is None else signature,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(sent, timeout=10) as reply:  # noqa: S310
            return int(reply.status), reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), ""


def check_answers(server: Server, request: SignedRequest) -> None:
    """Before any load: a signed request gets TwiML, and the hotline refuses a forged one."""
    status, body = post(server, request)
    if status != 200 or "<Response" not in body:
        raise ServerError(
            f"{server.target.label} answered {status} to {request.path}:\n{body[:500]}\n"
            f"{server.log_tail()}"
        )
    if server.target.checks_signatures:
        forged, _ = post(server, request, signature="Zm9yZ2VkIHNpZ25hdHVyZQ==")
        if forged != 403:
            raise ServerError(f"signature checking looks off: a forged request got {forged}")
