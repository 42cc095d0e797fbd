"""The application factory: settings, flow, prompts and services wired once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Flask, current_app, jsonify, send_from_directory
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.calllog.sink import CallLogSink, start_spool_replayer
from ivr.calllog.spool import Spool
from ivr.config import load_settings
from ivr.core.clock import Clock, SystemClock
from ivr.core.events import EventSink
from ivr.outbound.telephony import TwilioTransport
from ivr.registry.directory import Directory, start_directory_refresher
from ivr.services import Services, build_services, services
from ivr.voice.readiness import check_readiness
from ivr.web.guard import guard_odd_input


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
    from ivr.console import console
    from ivr.desk.views import desk
    from ivr.field import field
    from ivr.voice import desk_bridge, outbound  # noqa: F401 - their routes join `voice`
    from ivr.voice.inbound import init_voice, voice
    from ivr.web.pages import register_web

    guard_odd_input(app)  # first, so CSRF, sign-in and the views only see clean input
    init_voice(app)
    app.register_blueprint(api)
    # Twilio signs its webhooks and the API takes a bearer token: no CSRF tokens there.
    register_web(
        app, app.extensions["ivr"].settings, pages=(console, desk, field), exempt=(voice, api)
    )
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
