"""A call's place in its flow, and what one webhook gives the engine and gets back.

The state travels in the action URLs Twilio calls back (Twilio signs them, so it cannot be
forged; what the call has learned is sealed, so logs cannot read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from ivr.core.events import CallEvent
from ivr.core.verbs import Verb
from ivr.flows.lookup import Household
from ivr.flows.sealed_state import Remembered, StateSeal
from ivr.flows.speech import clean_digits, clean_speech

STEP_PATH = "/voice/step"  # where the inbound call's answers go
# The on-call engineer's leg of the <Dial>: the briefing Twilio fetches when they answer,
# and where their key press goes.
ONCALL_BRIEF_PATH = "/voice/oncall/brief"
ONCALL_ACCEPT_PATH = "/voice/oncall/accept"
ACCEPT_KEY = "1"
BRIEFING_TIMEOUT_S = 8
LATER = "_later"  # the prompt variant for a ticket whose number comes by SMS
NO_SLOT = "_no_slot"  # the prompt variant for a repair with no visit slot chosen
# What the call did, remembered for the goodbye (system.goodbye.<done>): a ticket's kind,
# "message", "faq" (set by the flow), "status".
DONE = "done"
NOT_MINE = "notmine"  # the caller said the caller ID's unit is not theirs (set by the flow)
RETYPED = "retyped"  # a unit not in the registry was asked for once more
MAX_HOPS = 50  # belt and braces: the validator already forbids silent loops
SORRY_AFTER_WAIT_S = 30  # R8: a caller who has waited hears an apology
QUEUE_HOLD_PAUSE_S = 15
WAIT_ROUND_S = 30  # announcements, hold and the choice: about one round every 30 s
# Twilio's QueueResult when a REST redirect took the caller out of the queue.
MOVED_ON = frozenset({"redirected", "redirected-from-bridged"})
MIN_ESTIMATE_S = 60  # never promise less than a minute
DIAL_TIMEOUT_S = 20  # an on-call engineer who has not answered by then gets skipped
MAX_REMEMBERED = 24
MAX_VALUE_CHARS = 200
ANSWERED = {"completed", "answered"}
BRIDGED = "completed"  # Twilio's DialCallStatus once a bridged person talked and hung up
# Nodes that ask a question in a <Gather>, and what kind of answer each takes.
GATHER_INPUT = {
    "menu": "dtmf speech",
    "collect": "dtmf",
    "describe": "speech",
    "appointment": "dtmf",
    "rating": "dtmf",
}
ASKING = frozenset(GATHER_INPUT)


@dataclass(frozen=True)
class CallState:
    """Where a caller is: node, language, step, failures, and what the call has learned."""

    node: str
    locale: str
    seq: int = 0
    no_input: int = 0
    no_match: int = 0
    data: Remembered = ()

    @property
    def failures(self) -> int:
        return self.no_input + self.no_match

    def value(self, key: str) -> str:
        return dict(self.data).get(key, "")

    def remember(self, values: Mapping[str, str]) -> CallState:
        merged = {**dict(self.data), **{k: str(v)[:MAX_VALUE_CHARS] for k, v in values.items()}}
        kept = {k: v for k, v in merged.items() if v}
        return replace(self, data=tuple(sorted(kept.items()))[:MAX_REMEMBERED])

    def at(self, node: str) -> CallState:
        """The same call at another node, with a clean slate of failures."""
        return replace(self, node=node, no_input=0, no_match=0)

    def as_query(self, seal: StateSeal) -> str:
        """The position in plain parameters; what the call has learned sealed in `d`."""
        fields: dict[str, str | int] = {
            "node": self.node,
            "lang": self.locale,
            "seq": self.seq,
            "ni": self.no_input,
            "nm": self.no_match,
        }
        if self.data:
            fields["d"] = seal.seal(self.data)
        return urlencode(fields)

    @classmethod
    def remembered_from(cls, args: Mapping[str, str], seal: StateSeal) -> Remembered | None:
        """The values sealed in `d` (none when it is absent); None when `d` is not ours."""
        token = args.get("d", "")
        if not token:
            return ()
        opened = seal.open(token)
        if opened is None:
            return None
        values = {key: value[:MAX_VALUE_CHARS] for key, value in opened if value}
        return tuple(sorted(values.items()))[:MAX_REMEMBERED]


@dataclass(frozen=True)
class Caller:
    """The call a webhook is about: its CallSid and the caller's number."""

    sid: str
    number: str = ""


@dataclass(frozen=True)
class Reply:
    """What the caller did at a <Gather>: keys pressed, words spoken, or nothing."""

    digits: str = ""
    speech: str = ""
    confidence: float | None = None

    @property
    def silent(self) -> bool:
        return not (self.digits or self.speech)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Reply:
        try:
            confidence: float | None = float(form.get("Confidence", ""))
        except ValueError:
            confidence = None
        return cls(
            clean_digits(form.get("Digits", "")),
            clean_speech(form.get("SpeechResult", "")),
            confidence,
        )


@dataclass(frozen=True)
class QueueWait:
    """What Twilio tells the wait URL: how long this caller has waited, and their place."""

    waited_s: int = 0
    position: int = 1


@dataclass(frozen=True)
class Recording:
    url: str
    sid: str
    duration_s: int


@dataclass
class Turn:
    """One webhook's answer: verbs for the telephone, events for the call log."""

    verbs: list[Verb] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)


class PromptValues(dict[str, str]):
    """Prompt placeholders; one the call has not learned yet reads as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


Hop = tuple[str, CallState]


def household_values(home: Household) -> dict[str, str]:
    return {
        "unit": str(home.unit_id or ""),
        "who": str(home.resident_id or ""),
        "ul": home.label,
    }


def whole_number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0
