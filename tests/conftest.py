"""Shared fixtures: a real Redis wiped per test, a database per test (SQLite, and
PostgreSQL when configured), a settable clock, signed Twilio-shaped requests, a real
RQ worker in burst mode, a supervisor signed in to the console, and the calls placed
to residents (tests/outbound_calls.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import create_engine, text

from ivr.app import create_app, refresh_directory
from ivr.core.clock import FrozenClock
from ivr.flows import default_flow_path, load_flow
from ivr.flows.speech import Listener
from ivr.models import StaffRole, User
from ivr.outbound.telephony import RecordingHttpClient
from ivr.queues import ALL_QUEUES
from ivr.registry.residents import load_demo_estate
from ivr.registry.staff import add_user
from ivr.services import services
from ivr.store.db import upgrade
from ivr.store.redis_link import EmbeddedRedis, connect_patient
from tests.outbound_calls import Office
from tests.records import empty_postgres
from tests.twilio_fake import TwilioFake
from tests.web_client import STAFF_PASSWORD, log_in
from worker.runtime import HotlineWorker, use_services

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE_URL = "https://hotline.example.com"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
API_TOKEN = "test-api-token"

# CI sets these to its PostgreSQL and Redis servers; elsewhere SQLite and an embedded Redis.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def office_hours_moment() -> datetime:
    return datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="session", autouse=True)
def speech_trained() -> None:
    """The main flow's classifier, trained once for the session: a hotline trains it in the
    background, and tests should hear with it from their first call."""
    Listener(load_flow(default_flow_path()))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_URL:
        yield REDIS_URL
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield embedded.url
    embedded.stop()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    connection = connect_patient(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once with Alembic, copied for each test."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        empty_postgres(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    copy = tmp_path / "ivr.sqlite3"
    shutil.copy(template, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(office_hours_moment())


@pytest.fixture
def make_app(
    database_url: str,
    redis: Redis,
    redis_url: str,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Flask]]:
    """Builds the hotline with test settings; keyword arguments override settings fields."""
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        options: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "public_base_url": BASE_URL,
            "twilio_auth_token": AUTH_TOKEN,
            "api_token": API_TOKEN,
            "clock": clock,
            "telephony_http": RecordingHttpClient(),  # no test reaches the real Twilio
            **overrides,
        }
        app = create_app(options)
        app.config["TESTING"] = True
        built.append(app)
        use_services(app.extensions["ivr"])
        return app

    yield build
    use_services(None)
    for app in built:
        services_of(app).db.dispose()


def services_of(app: Flask) -> Any:
    with app.app_context():
        return services()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def twilio_rest(app: Flask) -> RecordingHttpClient:
    """What the app's Twilio REST client sent: `.requests`, and `.fail_next(...)` to refuse one."""
    transport = services_of(app).telephony.http
    assert isinstance(transport, RecordingHttpClient)
    return transport


@pytest.fixture
def twilio(app: Flask) -> TwilioFake:
    """Posts signed, Twilio-shaped webhooks and parses the TwiML that comes back."""
    return TwilioFake(app.test_client(), BASE_URL, AUTH_TOKEN)


@pytest.fixture
def run_jobs(app: Flask, redis: Redis) -> Callable[[], int]:
    """Runs every queued job through a real RQ worker in burst mode; returns jobs done."""

    queues = [Queue(name, connection=redis) for name in ALL_QUEUES]

    def run() -> int:
        waiting = sum(queue.count for queue in queues)
        HotlineWorker(list(ALL_QUEUES), connection=redis).work(burst=True)
        failures = [
            Job.fetch(job_id, connection=redis).latest_result()
            for queue in queues
            for job_id in FailedJobRegistry(queue=queue).get_job_ids()
        ]
        assert not failures, [f.exc_string for f in failures if f]
        return waiting

    return run


@pytest.fixture
def run_due_jobs(
    redis: Redis, clock: FrozenClock, run_jobs: Callable[[], int]
) -> Callable[[], int]:
    """What RQ's scheduler does, on the test clock: jobs scheduled for now or earlier are
    moved to their queues and run. Returns how many were due."""
    queues = [Queue(name, connection=redis) for name in ALL_QUEUES]

    def run() -> int:
        moved = 0
        for queue in queues:
            registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
            for job_id in registry.get_jobs_to_schedule(int(clock.now().timestamp())):
                job = Job.fetch(job_id, connection=redis)
                registry.remove(job)
                queue.enqueue_job(job)
                moved += 1
        run_jobs()
        return moved

    return run


@pytest.fixture
def api_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def make_user(app: Flask, clock: FrozenClock) -> Callable[..., User]:
    """Adds a member of staff (an agent by default) who signs in with STAFF_PASSWORD."""

    def make(
        username: str = "agent1",
        role: StaffRole = StaffRole.AGENT,
        password: str = STAFF_PASSWORD,
        phone: str = "+8613900139000",
        display_name: str = "",
        trades: tuple[str, ...] = (),
    ) -> User:
        with services_of(app).db.session() as session:
            return add_user(
                session,
                username,
                role=role,
                password=password,
                phone=phone,
                now=clock.now(),
                display_name=display_name,
                trades=trades,
            )

    return make


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser on the staff's pages, not signed in."""
    return app.test_client()


@pytest.fixture
def supervisor(client: FlaskClient, make_user: Callable[..., User]) -> FlaskClient:
    """`client`, signed in as a supervisor (李主管), who may open the console."""
    make_user("zhuguan", role=StaffRole.SUPERVISOR, display_name="李主管")
    assert log_in(client, "zhuguan").status_code == 302
    return client


@pytest.fixture
def office(
    app: Flask,
    twilio: TwilioFake,
    twilio_rest: RecordingHttpClient,
    clock: FrozenClock,
    redis: Redis,
    run_jobs: Callable[[], int],
) -> Office:
    """The hotline calling residents back: the sweep, the calls it places, and their answers."""
    return Office(app, twilio, twilio_rest, clock, redis, run_jobs)


def with_demo_estate(app: Flask) -> None:
    """The demo estate: +8613800138000 lives at 1栋1单元101室 (and 3栋2单元501室); building 5
    has no entrances."""
    with app.app_context(), services().db.session() as session:
        load_demo_estate(session)
    refresh_directory(app)
