"""The call-log vocabulary: what happened on a call, as small serialisable events.

Webhooks create events and hand them to an `EventSink`; RQ workers write them
to SQL. Each event carries a dedupe key, so a replayed webhook or a job run
twice never duplicates a row.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

# Control, format and lone-surrogate characters: PostgreSQL refuses NUL in text, a lone
# surrogate cannot be encoded at all, and the others only hide what a value really says.
UNSTORABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
MAX_SEQ = 2**31 - 1  # an INTEGER column on every backend


class EventKind(StrEnum):
    CALL_STARTED = "call_started"
    GREETED = "greeted"
    ENTERED = "entered"
    CHOICE = "choice"
    SPEECH = "speech"
    EMERGENCY_HEARD = "emergency_heard"  # an emergency said at a menu: straight to its path
    ASKED_BACK = "asked_back"  # speech we were not sure of: 「您是要报修吗？」
    NO_INPUT = "no_input"
    INVALID_INPUT = "invalid_input"
    RETRIES_EXHAUSTED = "retries_exhausted"
    ROUTED = "routed"
    LANGUAGE = "language"
    HANDOFF = "handoff"
    QUEUE_RESULT = "queue_result"
    MESSAGE_OFFERED = "message_offered"
    MESSAGE_RECORDED = "message_recorded"
    MESSAGE_EMPTY = "message_empty"
    CLOSED_BY_IVR = "closed_by_ivr"
    STATUS = "status"
    FALLBACK = "fallback"
    IDENTIFIED = "identified"
    UNIT_TYPED = "unit_typed"
    DESCRIBED = "described"
    RECORDING = "recording"
    TRANSCRIPTION = "transcription"
    SLOT_CHOSEN = "slot_chosen"
    TICKET_OPENED = "ticket_opened"
    DIAL_RESULT = "dial_result"
    STATUS_TOLD = "status_told"
    RATED = "rated"
    VIRTUAL_HOLD = "virtual_hold"
    # Calls the hotline places (ivr/voice/outbound.py): agent-first callbacks and surveys.
    CALLBACK_LEG = "callback_leg"  # a leg answered: the agent, the resident, the survey
    CALLBACK_AGENT = "callback_agent"  # the agent accepted the callback, or did not
    CALLBACK_DIALED = "callback_dialed"  # how dialling the resident ended (DialCallStatus)
    CALLBACK_STATUS = "callback_status"  # Twilio's status callback for the placed call
    SURVEY_RATED = "survey_rated"  # the return-visit answer: 1, 2, 3, or none
    DESK_BRIDGE = "desk_bridge"  # an agent took the caller from the desk: their phone rings
    DESK_DIALED = "desk_dialed"  # whether that agent answered
    # The on-duty engineer told of an emergency order (the <Dial> whisper, or the alert call
    # the worker places), and whether they pressed 1 to take it.
    ENGINEER_BRIEFED = "engineer_briefed"
    ENGINEER_ANSWER = "engineer_answer"


@dataclass(frozen=True)
class CallEvent:
    call_sid: str
    kind: EventKind
    at: datetime
    seq: int = 0
    node: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @property
    def dedupe_key(self) -> str:
        """CallSid plus the step: the same webhook replayed yields the same key."""
        return self.key or f"{self.call_sid}:{self.seq}:{self.kind}:{self.node}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "kind": str(self.kind),
            "at": self.at.isoformat(),
            "seq": self.seq,
            "node": self.node,
            "detail": self.detail,
            "key": self.dedupe_key,
        }

    def storable(self) -> CallEvent:
        """This event as the call log can always store it, whatever reached the webhook."""
        return replace(
            self,
            call_sid=plain_text(self.call_sid, 64),
            at=self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC),
            seq=max(0, min(self.seq, MAX_SEQ)),
            node=plain_text(self.node, 64),
            detail=storable(self.detail),
            key=plain_text(self.key, 200),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallEvent:
        return cls(
            call_sid=str(data["call_sid"]),
            kind=EventKind(data["kind"]),
            at=datetime.fromisoformat(data["at"]),
            seq=int(data.get("seq", 0)),
            node=str(data.get("node", "")),
            detail=dict(data.get("detail") or {}),
            key=str(data.get("key", "")),
        )


def plain_text(raw: str, limit: int | None = None) -> str:
    """`raw` without control characters (NUL included), cut to `limit`; text in any
    script, Chinese included, is kept as it is."""
    if not raw.isprintable():
        raw = "".join(ch for ch in raw if unicodedata.category(ch) not in UNSTORABLE_CATEGORIES)
    return raw if limit is None else raw[:limit]


def storable(value: Any) -> Any:
    """A JSON value every backend stores: strings as `plain_text`, non-finite floats
    (NaN, infinity) as None, containers cleaned all the way down."""
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {plain_text(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


class EventSink(Protocol):
    def record(self, events: list[CallEvent]) -> None:
        """Hand events to the call log without waiting on SQL."""
        ...


class MemorySink:
    """Keeps events in a list; for `ivr flows` dry runs and unit tests."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def record(self, events: list[CallEvent]) -> None:
        self.events.extend(events)
