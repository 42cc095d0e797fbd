"""The OpenAPI 3.1 description of /api/, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from ivr.models import CallCategory, CallOutcome, CallStatus


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}

CALL = {
    "type": "object",
    "description": "One entry of the call register (客户来电来访登记表).",
    "required": ["call_sid", "started_at", "caller_number", "status", "content"],
    "properties": {
        "call_sid": {"type": "string", "example": "CA0123456789abcdef0123456789abcdef"},
        "started_at": _TIME,
        "ended_at": _nullable(_TIME),
        "caller_number": {"type": "string", "example": "+8613800138000"},
        "called_number": _STRING,
        "caller_name": _nullable(_STRING),
        "unit": _nullable({"type": "string", "description": "Building and room, when known."}),
        "locale": {"type": "string", "enum": ["zh-CN", "en-US"]},
        "category": _nullable({"type": "string", "enum": [c.value for c in CallCategory]}),
        "content": {"type": "string", "description": "What the caller chose and said."},
        "outcome": _nullable({"type": "string", "enum": [o.value for o in CallOutcome]}),
        "handler": _nullable(_STRING),
        "follow_up": _nullable(_STRING),
        "status": {"type": "string", "enum": [s.value for s in CallStatus]},
        "duration_s": _nullable({"type": "integer"}),
        "queue": _nullable(_STRING),
        "recording_url": _nullable(_STRING),
        "greeting_ms": _nullable(
            {"type": "number", "description": "Time our server took to answer with the greeting."}
        ),
    },
}

EVENT = {
    "type": "object",
    "required": ["kind", "at", "seq", "node", "detail"],
    "properties": {
        "kind": {"type": "string", "example": "choice"},
        "at": _TIME,
        "seq": {"type": "integer", "description": "Step of the call the event belongs to."},
        "node": {"type": "string", "description": "Flow node, e.g. main_menu."},
        "detail": {"type": "object"},
    },
}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": _STRING}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Property hotline API",
        "version": "1.0.0",
        "description": (
            "The hotline's call log. Every endpoint needs `Authorization: Bearer <IVR_API_TOKEN>`."
        ),
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/calls": {
            "get": {
                "summary": "List calls, newest first",
                "operationId": "listCalls",
                "parameters": [
                    _query(
                        "from",
                        "Start date (YYYY-MM-DD, hotline time zone) or ISO datetime.",
                        _STRING,
                    ),
                    _query(
                        "to",
                        "End date, inclusive (YYYY-MM-DD), or ISO datetime, exclusive.",
                        _STRING,
                    ),
                    _query(
                        "category",
                        "Call category.",
                        {"type": "string", "enum": [c.value for c in CallCategory]},
                    ),
                    _query(
                        "outcome",
                        "How the call ended.",
                        {"type": "string", "enum": [o.value for o in CallOutcome]},
                    ),
                    _query(
                        "limit",
                        "Page size.",
                        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    ),
                    _query("cursor", "`next_cursor` from the previous page.", _STRING),
                ],
                "responses": {
                    "200": {
                        "description": "A page of calls.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["calls", "next_cursor"],
                                    "properties": {
                                        "calls": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Call"},
                                        },
                                        "next_cursor": _nullable(_STRING),
                                    },
                                }
                            }
                        },
                    },
                    "400": _error_response("A filter could not be understood."),
                    "401": _error_response("Missing or wrong bearer token."),
                },
            }
        },
        "/api/calls/{call_sid}": {
            "get": {
                "summary": "One call with its events",
                "operationId": "getCall",
                "parameters": [
                    {"name": "call_sid", "in": "path", "required": True, "schema": _STRING}
                ],
                "responses": {
                    "200": {
                        "description": "The call and its events in order.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "allOf": [
                                        {"$ref": "#/components/schemas/Call"},
                                        {
                                            "type": "object",
                                            "required": ["events"],
                                            "properties": {
                                                "events": {
                                                    "type": "array",
                                                    "items": {
                                                        "$ref": "#/components/schemas/CallEvent"
                                                    },
                                                }
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "401": _error_response("Missing or wrong bearer token."),
                    "404": _error_response("No such call."),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Call": CALL, "CallEvent": EVENT, "Error": ERROR},
    },
}
