"""JSON API under /api/, behind `Authorization: Bearer $IVR_API_TOKEN`."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr.api.callbacks import CallbackFilters, callback_detail, list_callbacks
from ivr.api.calls import CallFilters, call_detail, list_calls
from ivr.api.openapi import OPENAPI
from ivr.api.params import FilterError
from ivr.api.queues import queues_now
from ivr.api.tickets import TicketFilters, list_tickets, ticket_detail
from ivr.calllog.waiting import flow_queues
from ivr.services import services
from ivr.tickets.lifecycle import hand_on
from ivr.tickets.query import find_ticket
from ivr.tickets.workflow import Actor, Moving, Step, StepError, move_ticket

api = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_ENDPOINTS = {"api.openapi"}


def _now() -> datetime:
    """The app's clock, in UTC like every time the API gives."""
    return services().clock.now().astimezone(UTC)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status


@api.before_request
def require_token() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = services().settings.api_token
    if (
        scheme.lower() != "bearer"
        or not expected
        or not hmac.compare_digest(token.strip(), expected)
    ):
        response = jsonify(error="a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
        return response, 401
    return None


@api.after_request
def never_stored(response: Response) -> Response:
    """Calls, tickets and callbacks name residents: no browser or proxy may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


@api.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    return _error(error.code or 500, error.description or error.name)


@api.errorhandler(FilterError)
def bad_filter(error: FilterError) -> ResponseReturnValue:
    return _error(400, str(error))


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(OPENAPI)


@api.get("/calls")
def calls() -> ResponseReturnValue:
    filters = CallFilters.from_args(request.args, services().settings.timezone)
    with services().db.reader() as session:
        return jsonify(list_calls(session, filters))


def _one(what: str, key: str, detail: dict[str, Any] | None) -> ResponseReturnValue:
    return jsonify(detail) if detail is not None else _error(404, f"no {what} {key}")


@api.get("/calls/<call_sid>")
def call(call_sid: str) -> ResponseReturnValue:
    with services().db.reader() as session:
        return _one("call", call_sid, call_detail(session, call_sid))


@api.get("/tickets")
def tickets() -> ResponseReturnValue:
    filters = TicketFilters.from_args(request.args, services().settings.timezone)
    with services().db.reader() as session:
        return jsonify(list_tickets(session, filters, _now()))


@api.get("/tickets/<key>")
def ticket(key: str) -> ResponseReturnValue:
    """`key` is the ticket's id or its number (1123001)."""
    with services().db.reader() as session:
        return _one("ticket", key, ticket_detail(session, key))


@api.post("/tickets/<key>/transitions")
def ticket_transition(key: str) -> ResponseReturnValue:
    """One step of the ticket's life: 200 with the ticket, 409 when its status forbids it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, 'send a JSON object, e.g. {"to": "dispatched"}')
    found = services()
    try:
        step = step_from_json(body)
        with found.db.session() as session:
            ticket = find_ticket(session, key)
            if ticket is None:
                return _error(404, f"no ticket {key}")
            actor = Actor(_text(body, "by") or "API", "api")
            moving = Moving(
                found.settings, found.engine.catalogues, found.clock.now(), request.host_url
            )
            follow = move_ticket(session, ticket, step, actor, moving)
    except StepError as refused:
        return _error(409 if refused.conflict else 422, str(refused))
    hand_on(found.redis, follow)
    with found.db.reader() as session:
        return _one("ticket", key, ticket_detail(session, key))


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StepError(f"{name} must be a string")
    return str(value)


def step_from_json(body: dict[str, Any]) -> Step:
    if not _text(body, "to"):
        raise StepError('say where the ticket goes: {"to": "dispatched"}')
    return Step.asked(
        _text(body, "to"),
        technician=_text(body, "technician"),
        note=_text(body, "note"),
        materials=_text(body, "materials"),
        fee=_text(body, "fee"),
    )


@api.get("/callbacks")
def callbacks() -> ResponseReturnValue:
    found = services()
    filters = CallbackFilters.from_args(request.args, found.settings.timezone, _now())
    with found.db.reader() as session:
        return jsonify(list_callbacks(session, filters))


@api.get("/callbacks/<key>")
def callback(key: str) -> ResponseReturnValue:
    with services().db.reader() as session:
        return _one("callback", key, callback_detail(session, key, _now()))


@api.get("/queues")
def queues() -> ResponseReturnValue:
    """Computed from the call log at request time: who waits where, and for how long."""
    found = services()
    with found.db.reader() as session:
        return jsonify(queues_now(session, flow_queues(found.engine.flow), _now()))
