"""SQLAlchemy 2 models: the call log, residents, tickets, what we send out, and staff."""

from ivr.models.base import Base, UTCDateTime
from ivr.models.calls import Call, CallCategory, CallEventRow, CallOutcome, CallStatus
from ivr.models.outbound import (
    Callback,
    CallbackStatus,
    MessageStatus,
    OutboundMessage,
)
from ivr.models.residents import Resident, Unit, unit_label
from ivr.models.staff import Availability, StaffRole, User
from ivr.models.tickets import Ticket, TicketKind, TicketLog, TicketPriority, TicketStatus

__all__ = [
    "Availability",
    "Base",
    "Call",
    "CallCategory",
    "CallEventRow",
    "CallOutcome",
    "CallStatus",
    "Callback",
    "CallbackStatus",
    "MessageStatus",
    "OutboundMessage",
    "Resident",
    "StaffRole",
    "Ticket",
    "TicketKind",
    "TicketLog",
    "TicketPriority",
    "TicketStatus",
    "UTCDateTime",
    "Unit",
    "User",
    "unit_label",
]
