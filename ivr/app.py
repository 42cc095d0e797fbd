"""The application factory: settings, flow, prompts and services wired once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask, current_app, jsonify, send_from_directory
from flask.typing import ResponseReturnValue
from redis import Redis
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.config import Settings, load_settings
from ivr.core.clock import Clock, SystemClock
from ivr.core.events import EventSink
from ivr.core.prompts import load_catalogues
from ivr.flows import default_flow_path, load_flow, validate_flow
from ivr.flows.engine import FlowEngine
from ivr.outbound.telephony import Telephony, TwilioTransport, build_telephony
from ivr.registry.directory import Directory, DirectoryCache, start_directory_refresher
from ivr.store.db import Database
from ivr.store.redis_link import EmbeddedRedis, connect
from ivr.store.redis_rest import RedisRest
from ivr.tickets.number_blocks import database_lease
from ivr.tickets.numbers import TicketNumbers
from ivr.voice.readiness import check_readiness
from ivr.voice.sink import CallLogSink, start_spool_replayer
from ivr.voice.spool import Spool
from ivr.voice.twiml import SignatureChecker, render
from ivr.web.guard import guard_odd_input


@dataclass
class Services:
    """What views and jobs need, built once per process."""

    settings: Settings
    clock: Clock
    db: Database
    redis: Redis
    sink: EventSink
    engine: FlowEngine
    signatures: SignatureChecker
    fallback_twiml: str
    telephony: Telephony
    embedded_redis: EmbeddedRedis | None = None
    numbers: TicketNumbers | None = None
    directory: DirectoryCache = field(default_factory=DirectoryCache)


def services() -> Services:
    found: Services = current_app.extensions["ivr"]
    return found


def _redis(settings: Settings) -> tuple[Redis, EmbeddedRedis | None]:
    if settings.redis_url:
        return connect(settings.redis_url, settings.redis_timeout_s), None
    embedded = EmbeddedRedis(settings.data_dir)
    return connect(embedded.url, settings.redis_timeout_s), embedded


def build_services(
    settings: Settings,
    clock: Clock,
    sink: EventSink | None = None,
    telephony_http: TwilioTransport | None = None,
) -> Services:
    catalogues = load_catalogues(settings.prompts_dir)
    if settings.default_locale not in catalogues:
        raise ValueError(f"HOTLINE_LOCALE {settings.default_locale!r} has no prompts file")
    flow = load_flow(default_flow_path())
    validate_flow(flow, catalogues)
    redis, embedded = _redis(settings)
    directory = DirectoryCache()
    db = Database(settings.database_url)
    rest = RedisRest(settings.redis_retry_after_s)  # shared: one timeout serves both
    numbers = TicketNumbers(database_lease(db, clock), redis, rest)
    engine = FlowEngine(flow, catalogues, settings, clock, lookup=directory.lookup, numbers=numbers)
    spool = Spool(settings.spool_dir)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        redis=redis,
        sink=sink or CallLogSink(redis, spool, rest),
        engine=engine,
        directory=directory,
        signatures=SignatureChecker(settings.twilio_auth_token),
        fallback_twiml=render(engine.fallback("/voice/fallback?stage=recorded")),
        telephony=build_telephony(settings, clock, telephony_http),
        embedded_redis=embedded,
        numbers=numbers,
    )


def _lease_ticket_numbers(found: Services, keep_leasing: bool) -> None:
    """Numbers in hand before the first call; the web processes keep leasing beside it."""
    numbers = found.numbers
    assert numbers is not None

    def today() -> date:
        return found.clock.now().astimezone(found.settings.timezone).date()

    try:
        numbers.refill(today())
    except SQLAlchemyError:
        logging.getLogger(__name__).exception("no ticket numbers leased at start-up")
    if keep_leasing:
        numbers.start_refiller(today)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the hotline. `overrides` replaces settings fields, plus `clock`, `sink`
    and `telephony_http` (the transport under the Twilio REST client)."""
    options = dict(overrides or {})
    clock: Clock = options.pop("clock", None) or SystemClock()
    sink: EventSink | None = options.pop("sink", None)
    telephony_http: TwilioTransport | None = options.pop("telephony_http", None)
    replay_spool: bool = options.pop("replay_spool", False)
    lease_numbers: bool = options.pop("lease_ticket_numbers", True)
    settings = load_settings().with_overrides(**options)

    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, JSON_AS_ASCII=False)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["ivr"] = build_services(settings, clock, sink, telephony_http)
    refresh_directory(app)
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    _register(app)
    if replay_spool and isinstance(app.extensions["ivr"].sink, CallLogSink):
        start_spool_replayer(app.extensions["ivr"].sink)
    if replay_spool:
        start_directory_refresher(app.extensions["ivr"].directory, app.extensions["ivr"].db)
    if lease_numbers:
        _lease_ticket_numbers(app.extensions["ivr"], keep_leasing=replay_spool)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return app


def refresh_directory(app: Flask | None = None) -> Directory:
    """Reload the callers' directory now; the old snapshot stays if the database fails."""
    found: Services = (app or current_app).extensions["ivr"]
    found.directory.refresh(found.db, found.clock.now())
    return found.directory.current


def _register(app: Flask) -> None:
    from ivr.api import api
    from ivr.voice import desk_bridge, outbound  # noqa: F401 - their routes join `voice`
    from ivr.voice.inbound import voice
    from ivr.web.pages import register_web

    guard_odd_input(app)  # first, so CSRF, sign-in and the views only see clean input
    app.register_blueprint(voice)
    app.register_blueprint(api)
    # Twilio signs its webhooks and the API takes a bearer token: no CSRF tokens there.
    register_web(app, app.extensions["ivr"].settings, exempt=(voice, api))
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/media/prompts/<path:name>", "prompt_audio", prompt_audio)


def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


def readyz() -> ResponseReturnValue:
    found = services()
    spool = (
        found.sink.spool if isinstance(found.sink, CallLogSink) else Spool(found.settings.spool_dir)
    )
    readiness = check_readiness(found.redis, spool)
    return jsonify(readiness.as_json()), 200 if readiness.ready else 503


def prompt_audio(name: str) -> ResponseReturnValue:
    return send_from_directory(services().settings.prompts_dir / "audio", name)
