"""SQLAlchemy 2 models: the call log, residents, tickets, what we send out, staff, the
audit log and the events the call log could not store."""

from ivr.models.audit import AuditAction, AuditEntry
from ivr.models.base import Base, UTCDateTime
from ivr.models.calls import (
    Call,
    CallCategory,
    CallEventRow,
    CallOutcome,
    CallStatus,
    Disposition,
    WrapUp,
)
from ivr.models.dead_letters import DeadLetter
from ivr.models.outbound import (
    AttemptStatus,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    MessageStatus,
    OutboundMessage,
)
from ivr.models.residents import Resident, Unit, unit_label
from ivr.models.staff import Availability, StaffRole, User
from ivr.models.tickets import (
    OPEN_STATUSES,
    Ticket,
    TicketKind,
    TicketLog,
    TicketNumberBlock,
    TicketPriority,
    TicketStatus,
)

__all__ = [
    "OPEN_STATUSES",
    "AttemptStatus",
    "AuditAction",
    "AuditEntry",
    "Availability",
    "Base",
    "Call",
    "CallCategory",
    "CallEventRow",
    "CallOutcome",
    "CallStatus",
    "Callback",
    "CallbackAttempt",
    "CallbackKind",
    "CallbackStatus",
    "DeadLetter",
    "Disposition",
    "MessageStatus",
    "OutboundMessage",
    "Resident",
    "StaffRole",
    "Ticket",
    "TicketKind",
    "TicketLog",
    "TicketNumberBlock",
    "TicketPriority",
    "TicketStatus",
    "UTCDateTime",
    "Unit",
    "User",
    "WrapUp",
    "unit_label",
]
