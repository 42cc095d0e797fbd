"""The OpenAPI 3.1 description of /api/, served at /api/openapi.json."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from ivr.api.params import DEFAULT_LIMIT, MAX_LIMIT
from ivr.models import (
    AttemptStatus,
    CallbackKind,
    CallbackStatus,
    CallCategory,
    CallOutcome,
    CallStatus,
    TicketKind,
    TicketPriority,
    TicketStatus,
)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _one_of(enum: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in enum]}


def _time(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "description": description}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


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
        "category": _nullable(_one_of(CallCategory)),
        "content": {"type": "string", "description": "What the caller chose and said."},
        "outcome": _nullable(_one_of(CallOutcome)),
        "handler": _nullable(_STRING),
        "follow_up": _nullable(_STRING),
        "status": _one_of(CallStatus),
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

_TICKET_WHAT = {
    "id": {"type": "integer", "description": "Row id, for `/api/tickets/{ticket}`."},
    "number": {
        "type": "string",
        "example": "1123001",
        "description": "The number read to the caller: month, day, the day's sequence.",
    },
    "kind": _one_of(TicketKind),
    "priority": _one_of(TicketPriority),
    "category": {
        "type": "string",
        "example": "water",
        "description": "Problem or complaint category chosen in the call.",
    },
    "sla_tier": {
        "type": "string",
        "example": "major",
        "description": "Service-level tier: repairs emergency, major, small or large (R5); "
        "complaints normal or major (R6).",
    },
    "status": _one_of(TicketStatus),
}

_TICKET_REPORT = {
    "unit": _nullable(
        {
            "type": "string",
            "example": "3栋2单元501室",
            "description": "The registry unit's label when linked, else the unit the caller gave.",
        }
    ),
    "unit_id": _nullable({"type": "integer"}),
    "resident_id": _nullable({"type": "integer"}),
    "caller_number": {"type": "string", "example": "+8613800138000"},
    "description": {"type": "string", "description": "What the caller said, as recognised."},
    "recording_url": _nullable(_STRING),
    "transcription": _nullable(_STRING),
    "appointment_slot": _nullable({"type": "string", "example": "tomorrow_pm"}),
    "appointment_start": _nullable(_time("Start of the visit agreed with the resident.")),
    "appointment_end": _nullable(_time("End of the agreed visit.")),
    "call_sid": _nullable({"type": "string", "description": "The call that opened the ticket."}),
}

_TICKET_DEADLINES = {
    "created_at": _time("When the call reported it."),
    "dispatch_by": _nullable(_time("Emergencies: an engineer dispatched by then.")),
    "on_site_by": _nullable(_time("Someone on site by then (R5: 4 hours, or the visit slot).")),
    "resolve_by": _nullable(_time("Resolved by then (repairs: R5 tiers; complaints: same day).")),
    "return_visit_due": _nullable(_time("Return visit (回访) due after completion.")),
    "resolved_at": _nullable(_TIME),
    "closed_at": _nullable(_TIME),
}

_TICKET_ESCALATION = {
    "escalation_level": {"type": "integer", "minimum": 1, "maximum": 3},
    "escalation_role": _nullable(
        {
            "type": "string",
            "example": "客服主管",
            "description": "Who owns that level: 接待人, 客服主管, 主管副总经理 (R6).",
        }
    ),
    "escalation_due": _nullable(_time("Goes up a level then, unless acknowledged.")),
    "acknowledged_at": _nullable(_TIME),
    "breach_warned_at": _nullable(_time("A supervisor was warned of the coming deadline.")),
    "breached_at": _nullable(_time("The ticket missed its deadline.")),
}

_TICKET_WORK = {
    "technician": _nullable({"type": "string", "description": "Username it is dispatched to."}),
    "technician_name": _nullable(_STRING),
    "dispatched_at": _nullable(_TIME),
    "on_site_at": _nullable(_time("When the technician arrived (pressed on their page).")),
    "investigated_at": _nullable(_time("Complaints: investigated and verified (R6).")),
    "cancelled_at": _nullable(_TIME),
    "work_note": {"type": "string", "description": "What the visit did."},
    "materials": {"type": "string"},
    "fee": _nullable({"type": "string", "example": "80.00", "description": "有偿服务, yuan."}),
    "next_steps": {
        "type": "array",
        "items": _one_of(TicketStatus),
        "description": "The statuses `transitions` accepts from this one.",
    },
}

_TICKET_PROPERTIES = {
    **_TICKET_WHAT,
    **_TICKET_REPORT,
    **_TICKET_DEADLINES,
    **_TICKET_ESCALATION,
    **_TICKET_WORK,
}

TRANSITION = {
    "type": "object",
    "description": "One step of a ticket's life. Repairs: open → acknowledged → dispatched → "
    "on_site → done → closed; complaints: open → acknowledged → investigated → answered → "
    "closed. `dispatched` again reassigns, `acknowledged` from dispatched or on_site is "
    '"cannot finish", `cancelled` and `open` (reopen) need a note.',
    "required": ["to"],
    "properties": {
        "to": _one_of(TicketStatus),
        "technician": {
            "type": "string",
            "description": "Dispatch: the technician's username; omitted, the default "
            "technician for the category (of its trade, fewest open orders).",
        },
        "note": {"type": "string", "maxLength": 1000, "description": "Why, or what was done."},
        "materials": {"type": "string", "maxLength": 1000},
        "fee": {"type": "string", "example": "80.00", "description": "有偿服务, in yuan."},
        "by": {"type": "string", "description": "Who takes the step, for the history."},
    },
}

TICKET = {
    "type": "object",
    "description": "A repair order (报修单) or a complaint ticket, opened by a call.",
    "required": list(_TICKET_PROPERTIES),
    "properties": _TICKET_PROPERTIES,
}

TICKET_LOG_ENTRY = {
    "type": "object",
    "description": "One line of a ticket's history.",
    "required": ["at", "kind", "detail"],
    "properties": {
        "at": _TIME,
        "kind": {
            "type": "string",
            "example": "escalated",
            "description": "created, notified, not_notified, escalated, sla_warning, sla_breached…",
        },
        "detail": {"type": "object"},
    },
}

STAFF_MEMBER = {
    "type": "object",
    "description": "A member of staff (null name fields: the account was removed).",
    "required": ["id", "username", "display_name"],
    "properties": {
        "id": {"type": "integer"},
        "username": _nullable(_STRING),
        "display_name": _nullable(_STRING),
    },
}

CALLBACK_ATTEMPT = {
    "type": "object",
    "description": "One try at a callback: resident callbacks ring the agent first, then "
    "bridge them to the resident; return visits ring the resident.",
    "required": ["number", "status", "agent", "call_sid", "started_at", "ended_at", "outcome"],
    "properties": {
        "number": {"type": "integer", "minimum": 1},
        "status": _one_of(AttemptStatus),
        "agent": _nullable(_ref("StaffMember")),
        "call_sid": _nullable({"type": "string", "description": "The call we placed."}),
        "started_at": _TIME,
        "ended_at": _nullable(_time("When the attempt ended; null while it is under way.")),
        "outcome": _nullable(_STRING),
    },
}

_CALLBACK_PROPERTIES = {
    "id": {"type": "integer", "description": "Row id, for `/api/callbacks/{callback}`."},
    "kind": {
        **_one_of(CallbackKind),
        "description": "resident: an agent calls the resident back; survey: the automated "
        "return visit (回访) after a ticket is resolved.",
    },
    "phone": {"type": "string", "example": "+8613800138000", "description": "Who to call."},
    "reason": {
        "type": "string",
        "example": "requested from the general queue after 2 min",
        "description": "Why we owe the call: virtual hold, an abandoned call, a message left…",
    },
    "queue": _nullable({"type": "string", "example": "repair", "description": "What it is about."}),
    "important": {
        "type": "boolean",
        "description": "Promised the same day (R7) or asked for from the queue.",
    },
    "keeps_place": {
        "type": "boolean",
        "description": "Virtual hold: called back before callers who arrived later.",
    },
    "locale": {"type": "string", "enum": ["zh-CN", "en-US"]},
    "due_at": _time("When we promised to call back."),
    "next_attempt_at": _nullable(
        _time("Not tried before then (the next try, or a return visit's first); null: now.")
    ),
    "status": {
        **_one_of(CallbackStatus),
        "description": "unreachable: three tries went unanswered; for a supervisor.",
    },
    "owner": _nullable(_ref("StaffMember")),
    "attempts": {
        "type": "integer",
        "minimum": 0,
        "description": "Tries that rang the resident (at most 3); an agent who did not "
        "answer does not count.",
    },
    "attempt_log": {"type": "array", "items": _ref("CallbackAttempt")},
    "outcome": _nullable({"type": "string", "description": "What the last attempt gave."}),
    "completed_at": _nullable(_time("When it was done or given up as unreachable.")),
    "recording_url": _nullable({"type": "string", "description": "The message left, if any."}),
    "ticket_id": _nullable({"type": "integer", "description": "The ticket a return visit is for."}),
    "created_at": _time("When the call that caused it asked for it."),
    "call_sid": _nullable({"type": "string", "description": "The call that caused it."}),
    "overdue": {
        "type": "boolean",
        "description": "Still pending and its due time has passed.",
    },
}

CALLBACK = {
    "type": "object",
    "description": "A promise to call a resident back (R7).",
    "required": list(_CALLBACK_PROPERTIES),
    "properties": _CALLBACK_PROPERTIES,
}

CALLBACK_WITH_CALL = {
    "allOf": [
        _ref("Callback"),
        {
            "type": "object",
            "required": ["call"],
            "properties": {
                "call": {
                    "anyOf": [_ref("Call"), {"type": "null"}],
                    "description": "The call that caused it, when it is in the call log.",
                }
            },
        },
    ]
}

WAITING_CALLER = {
    "type": "object",
    "description": "A caller waiting for a person.",
    "required": ["call_sid", "caller_number", "unit", "category", "joined_at", "waited_s"],
    "properties": {
        "call_sid": {"type": "string", "description": "For `/api/calls/{call_sid}`."},
        "caller_number": {"type": "string", "example": "+8613800138000"},
        "unit": _nullable({"type": "string", "description": "Building and room, when known."}),
        "category": _nullable(_one_of(CallCategory)),
        "joined_at": _time("When the caller was put in the queue."),
        "waited_s": {"type": "integer", "minimum": 0, "description": "Seconds waited so far."},
    },
}

QUEUE = {
    "type": "object",
    "description": "One human queue and who waits in it, longest-waiting first.",
    "required": ["name", "waiting", "longest_wait_s", "callers"],
    "properties": {
        "name": {"type": "string", "example": "general"},
        "waiting": {"type": "integer", "minimum": 0, "description": "Callers waiting."},
        "longest_wait_s": {
            "type": "integer",
            "minimum": 0,
            "description": "The longest wait so far, in seconds; 0 when nobody waits.",
        },
        "callers": {"type": "array", "items": _ref("WaitingCaller")},
    },
}

QUEUES = {
    "type": "object",
    "required": ["as_of", "queues"],
    "properties": {
        "as_of": _time("The moment the waits were measured."),
        "queues": {
            "type": "array",
            "items": _ref("Queue"),
            "description": "Every queue of the call flow and any other with callers in it, "
            "most urgent first: emergency, complaint, repair, inquiry, general, then the rest "
            "by name.",
        },
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


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _STRING,
    }


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_response(description: str) -> dict[str, Any]:
    return _json_response(description, _ref("Error"))


def _page(key: str, item: str) -> dict[str, Any]:
    """A page of `item`s under `key`, with the cursor for the next page."""
    return {
        "type": "object",
        "required": [key, "next_cursor"],
        "properties": {
            key: {"type": "array", "items": _ref(item)},
            "next_cursor": _nullable(_STRING),
        },
    }


def _with_list(base: str, key: str, item: str) -> dict[str, Any]:
    """`base` plus an array of `item`s under `key`."""
    extra = {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": _ref(item)}},
    }
    return {"allOf": [_ref(base), extra]}


PERIOD_PARAMETERS = [
    _query("from", "Start date (YYYY-MM-DD, hotline time zone) or ISO datetime.", _STRING),
    _query("to", "End date, inclusive (YYYY-MM-DD), or ISO datetime, exclusive.", _STRING),
]

PAGE_PARAMETERS = [
    _query(
        "limit",
        "Page size.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    _query("cursor", "`next_cursor` from the previous page.", _STRING),
]

BAD_FILTER = _error_response("A filter could not be understood.")
NO_TOKEN = _error_response("Missing or wrong bearer token.")

CALL_PATHS = {
    "/api/calls": {
        "get": {
            "summary": "List calls, newest first",
            "operationId": "listCalls",
            "parameters": [
                *PERIOD_PARAMETERS,
                _query("category", "Call category.", _one_of(CallCategory)),
                _query("outcome", "How the call ended.", _one_of(CallOutcome)),
                *PAGE_PARAMETERS,
            ],
            "responses": {
                "200": _json_response("A page of calls.", _page("calls", "Call")),
                "400": BAD_FILTER,
                "401": NO_TOKEN,
            },
        }
    },
    "/api/calls/{call_sid}": {
        "get": {
            "summary": "One call with its events",
            "operationId": "getCall",
            "parameters": [{"name": "call_sid", "in": "path", "required": True, "schema": _STRING}],
            "responses": {
                "200": _json_response(
                    "The call and its events in order.", _with_list("Call", "events", "CallEvent")
                ),
                "401": NO_TOKEN,
                "404": _error_response("No such call."),
            },
        }
    },
}

TICKET_FILTERS = [
    _query("kind", "Repair order or complaint.", _one_of(TicketKind)),
    _query("status", "Ticket status.", _one_of(TicketStatus)),
    _query("priority", "Ticket priority.", _one_of(TicketPriority)),
    _query(
        "breached",
        "Only tickets that missed (true) or kept (false) their deadline.",
        {"type": "boolean"},
    ),
    _query(
        "open",
        "true: only tickets still owed work (open, acknowledged, dispatched, on site, "
        "investigated); false: only done, answered, closed or cancelled.",
        {"type": "boolean"},
    ),
    _query("unit", "Part of the unit label, e.g. `3栋` or `501`.", _STRING),
    _query("caller", "The caller's number, E.164 (+8613800138000).", _STRING),
]

TICKET_PATHS = {
    "/api/tickets": {
        "get": {
            "summary": "List repair orders and complaints, newest first",
            "description": "`from` and `to` filter on when the ticket was created.",
            "operationId": "listTickets",
            "parameters": [*PERIOD_PARAMETERS, *TICKET_FILTERS, *PAGE_PARAMETERS],
            "responses": {
                "200": _json_response("A page of tickets.", _page("tickets", "Ticket")),
                "400": BAD_FILTER,
                "401": NO_TOKEN,
            },
        }
    },
    "/api/tickets/{ticket}": {
        "get": {
            "summary": "One ticket with its history",
            "operationId": "getTicket",
            "parameters": [
                _path(
                    "ticket",
                    "The ticket's id, or its number (1123001): the newest ticket with that "
                    "number, as numbers restart every year. An id is tried first.",
                )
            ],
            "responses": {
                "200": _json_response(
                    "The ticket and its log, oldest first.",
                    _with_list("Ticket", "log", "TicketLogEntry"),
                ),
                "401": NO_TOKEN,
                "404": _error_response("No such ticket."),
            },
        }
    },
    "/api/tickets/{ticket}/transitions": {
        "post": {
            "summary": "Move a ticket one step (dispatch, arrived, done, close, reopen, cancel)",
            "description": 'The step is stamped with who (`by`, else "API") and when on the '
            "ticket's history. Dispatch texts the technician the order with a link to its "
            "phone page and the resident who is coming; done texts the resident and promises "
            "the return visit within 24 hours. Asking for the status the ticket already has "
            "changes nothing (a retried request is safe).",
            "operationId": "moveTicket",
            "parameters": [_path("ticket", "The ticket's id, or its number (1123001).")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("Transition")}},
            },
            "responses": {
                "200": _json_response(
                    "The ticket after the step, with its log.",
                    _with_list("Ticket", "log", "TicketLogEntry"),
                ),
                "400": _error_response("The body is not a JSON object."),
                "401": NO_TOKEN,
                "404": _error_response("No such ticket."),
                "409": _error_response("The ticket's status does not allow this step."),
                "422": _error_response(
                    "The step misses what it needs (a reason, a known technician, a fee in yuan)."
                ),
            },
        }
    },
}

CALLBACK_FILTERS = [
    _query(
        "due_after",
        "Due from this date (YYYY-MM-DD, hotline time zone) or ISO datetime, inclusive.",
        _STRING,
    ),
    _query(
        "due_before",
        "Due up to this date, inclusive (YYYY-MM-DD), or ISO datetime, exclusive.",
        _STRING,
    ),
    _query("status", "Callback status.", _one_of(CallbackStatus)),
    _query(
        "kind",
        "Resident callbacks, return visits, or emergency alerts to the on-call engineer.",
        _one_of(CallbackKind),
    ),
    _query(
        "important", "Only important (true) or ordinary (false) callbacks.", {"type": "boolean"}
    ),
    _query(
        "overdue",
        "true: only pending callbacks past their due time; false: all the others.",
        {"type": "boolean"},
    ),
]

CALLBACK_PATHS = {
    "/api/callbacks": {
        "get": {
            "summary": "List callbacks, soonest due first",
            "operationId": "listCallbacks",
            "parameters": [*CALLBACK_FILTERS, *PAGE_PARAMETERS],
            "responses": {
                "200": _json_response("A page of callbacks.", _page("callbacks", "Callback")),
                "400": BAD_FILTER,
                "401": NO_TOKEN,
            },
        }
    },
    "/api/callbacks/{callback}": {
        "get": {
            "summary": "One callback with the call that caused it",
            "operationId": "getCallback",
            "parameters": [_path("callback", "The callback's id.")],
            "responses": {
                "200": _json_response("The callback.", _ref("CallbackWithCall")),
                "401": NO_TOKEN,
                "404": _error_response("No such callback."),
            },
        }
    },
}

QUEUE_PATHS = {
    "/api/queues": {
        "get": {
            "summary": "Callers waiting for a person, queue by queue",
            "description": "Computed from the call log when asked: a caller waits from being "
            "handed to a queue until they are bridged, leave the queue or hang up.",
            "operationId": "listQueues",
            "responses": {
                "200": _json_response("The queues, most urgent first.", _ref("Queues")),
                "401": NO_TOKEN,
            },
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Property hotline API",
        "version": "1.0.0",
        "description": (
            "The hotline's call log, repair orders and complaints (and their steps), callbacks "
            "and queues. "
            "Every endpoint needs `Authorization: Bearer <IVR_API_TOKEN>`."
        ),
    },
    "security": [{"bearer": []}],
    "paths": {**CALL_PATHS, **TICKET_PATHS, **CALLBACK_PATHS, **QUEUE_PATHS},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Call": CALL,
            "CallEvent": EVENT,
            "Ticket": TICKET,
            "TicketLogEntry": TICKET_LOG_ENTRY,
            "Transition": TRANSITION,
            "Callback": CALLBACK,
            "CallbackWithCall": CALLBACK_WITH_CALL,
            "CallbackAttempt": CALLBACK_ATTEMPT,
            "StaffMember": STAFF_MEMBER,
            "Queues": QUEUES,
            "Queue": QUEUE,
            "WaitingCaller": WAITING_CALLER,
            "Error": ERROR,
        },
    },
}
