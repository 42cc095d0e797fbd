"""The hotline's parts, built once per process from its settings: the database, Redis, the
flow engine, the call-log sink, ticket numbers, Twilio's REST client. A web process keeps
them on its Flask app (`services()` inside a request); a worker builds them without Flask
(`worker.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from redis import Redis

from ivr.callbacks.calls import OutboundFlows, build_outbound_flows
from ivr.calllog.sink import CallLogSink
from ivr.calllog.spool import Spool
from ivr.config import Settings
from ivr.core.clock import Clock
from ivr.core.events import EventSink
from ivr.core.prompts import load_catalogues
from ivr.flows import default_flow_path, load_flow, validate_flow
from ivr.flows.engine import FlowEngine
from ivr.outbound.telephony import Telephony, TwilioTransport, build_telephony
from ivr.registry.directory import DirectoryCache
from ivr.store.db import Database
from ivr.store.redis_link import EmbeddedRedis, connect
from ivr.store.redis_rest import RedisRest
from ivr.tickets.number_blocks import database_lease
from ivr.tickets.numbers import TicketNumbers


@dataclass
class Services:
    """What views and jobs need, built once per process."""

    settings: Settings
    clock: Clock
    db: Database
    redis: Redis
    sink: EventSink
    engine: FlowEngine
    telephony: Telephony
    embedded_redis: EmbeddedRedis | None = None
    numbers: TicketNumbers | None = None
    directory: DirectoryCache = field(default_factory=DirectoryCache)
    legs: OutboundFlows = field(default_factory=lambda: OutboundFlows({}))  # calls we place


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
    engine = FlowEngine(
        flow,
        catalogues,
        settings,
        clock,
        lookup=directory.lookup,
        numbers=numbers,
        speech_in_background=True,
    )
    spool = Spool(settings.spool_dir)
    legs = build_outbound_flows(catalogues, settings, clock)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        redis=redis,
        sink=sink or CallLogSink(redis, spool, rest),
        engine=engine,
        directory=directory,
        telephony=build_telephony(settings, clock, telephony_http),
        embedded_redis=embedded,
        numbers=numbers,
        legs=legs,
    )
