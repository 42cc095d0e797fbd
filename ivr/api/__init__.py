"""JSON API under /api/, behind `Authorization: Bearer $IVR_API_TOKEN`."""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr.api.calls import CallFilters, call_detail, list_calls
from ivr.api.openapi import OPENAPI
from ivr.api.params import FilterError
from ivr.api.tickets import TicketFilters, list_tickets, ticket_detail
from ivr.app import services

api = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_ENDPOINTS = {"api.openapi"}


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


@api.get("/calls/<call_sid>")
def call(call_sid: str) -> ResponseReturnValue:
    with services().db.reader() as session:
        found = call_detail(session, call_sid)
    if found is None:
        return _error(404, f"no call {call_sid}")
    return jsonify(found)


@api.get("/tickets")
def tickets() -> ResponseReturnValue:
    filters = TicketFilters.from_args(request.args, services().settings.timezone)
    with services().db.reader() as session:
        return jsonify(list_tickets(session, filters))


@api.get("/tickets/<key>")
def ticket(key: str) -> ResponseReturnValue:
    """`key` is the ticket's id or its number (1123001)."""
    with services().db.reader() as session:
        found = ticket_detail(session, key)
    if found is None:
        return _error(404, f"no ticket {key}")
    return jsonify(found)
