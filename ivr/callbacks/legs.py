"""What a placed callback or survey call's webhooks need, carried in the URLs Twilio signs.

The dispatcher writes a leg into the URLs it hands Twilio (`ivr.callbacks.dispatch`); the
webhooks (`ivr/voice/outbound.py`) read it back and trust it, as Twilio signs what it calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ivr.core.callback_prompts import EMERGENCIES, SOURCES, TOPICS
from ivr.core.ticket_numbers import spoken_digits
from ivr.flows.engine.state import CallState
from ivr.models import AttemptStatus, CallbackKind
from ivr.registry.residents import is_e164

MAX_TRIES = 3  # rings of the resident; an agent who does not answer does not use one up
RETRY_AFTER = timedelta(minutes=15)  # between rings of a resident who did not answer

STATUS_PATH = "/voice/callback/status"


@dataclass(frozen=True)
class CallbackLeg:
    callback_id: int
    attempt_id: int
    kind: CallbackKind
    phone: str  # the resident's
    locale: str  # the resident's
    prior: int = 0  # tries already counted against the resident's three
    source: str = "general"
    topic: str = "general"
    unit: str = ""
    agent_id: int | None = None
    agent: str = ""  # the agent's username, for the call log's handler
    ticket_number: str = ""
    emergency: str = ""  # an alert call's: the emergency's kind (EMERGENCIES)
    caller: str = ""  # an alert call's: the resident who reported it

    @property
    def is_last_try(self) -> bool:
        return self.prior + 1 >= MAX_TRIES

    def query(self, **extra: str | int) -> str:
        fields: dict[str, str | int] = {
            "cb": self.callback_id,
            "at": self.attempt_id,
            "k": self.kind.value,
            "to": self.phone,
            "lang": self.locale,
            "prior": self.prior,
            "src": self.source,
            "topic": self.topic,
            "ul": self.unit,
            "ag": self.agent_id or "",
            "an": self.agent,
            "t": self.ticket_number,
            "emg": self.emergency,
            "cn": self.caller,
            **extra,
        }
        return urlencode({key: value for key, value in fields.items() if value != ""})

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallbackLeg:
        """Raises ValueError on anything we would not have written ourselves."""
        phone, agent, number = args.get("to", ""), args.get("ag", ""), args.get("t", "")
        if not is_e164(phone):
            raise ValueError("no resident number")
        if args.get("src", "general") not in (*SOURCES, "survey"):
            raise ValueError("unknown source")
        if args.get("topic", "general") not in TOPICS:
            raise ValueError("unknown topic")
        if (agent and not agent.isdigit()) or (number and not number.isdigit()):
            raise ValueError("malformed agent or ticket number")
        emergency, caller = args.get("emg", ""), args.get("cn", "")
        if (emergency and emergency not in EMERGENCIES) or (caller and not is_e164(caller)):
            raise ValueError("unknown emergency or malformed caller")
        return cls(
            callback_id=_small_int(args.get("cb", "")),
            attempt_id=_small_int(args.get("at", "")),
            kind=CallbackKind(args.get("k", "")),
            phone=phone,
            locale=args.get("lang", "")[:16],
            prior=min(_small_int(args.get("prior", "0")), 100),
            source=args.get("src", "general"),
            topic=args.get("topic", "general"),
            unit=args.get("ul", "")[:64],
            agent_id=int(agent) if agent else None,
            agent=args.get("an", "")[:64],
            ticket_number=number[:16],
            emergency=emergency,
            caller=caller,
        )

    def detail(self) -> dict[str, Any]:
        """What every event of this leg carries, for the worker and the call log."""
        return {
            "cb": self.callback_id,
            "at": self.attempt_id,
            "kind": self.kind.value,
            "phone": self.phone,
            "topic": self.topic,
            "agent_id": self.agent_id,
            "agent": self.agent,
            # an alert call's order, so the register says which order the engineer was told of
            **({"t": self.ticket_number} if self.kind == CallbackKind.ALERT else {}),
        }


def _small_int(raw: str) -> int:
    if not (raw.isdigit() and len(raw) <= 18):
        raise ValueError(f"not an id: {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class PlannedCall:
    """A claimed attempt, ready for Twilio: who to ring and where Twilio fetches the TwiML."""

    attempt_id: int
    to: str
    url: str
    status_callback: str
    status: AttemptStatus


# --- a leg as a flow's state -------------------------------------------------------------

LEG_FIELDS = (
    "cb",
    "at",
    "k",
    "to",
    "lang",
    "prior",
    "src",
    "topic",
    "ul",
    "ag",
    "an",
    "t",
    "emg",
    "cn",
)


def leg_state(
    leg: CallbackLeg, node: str, locale: str, no_input: int = 0, no_match: int = 0
) -> CallState:
    """The leg at a node of its flow: what it carries becomes what the call knows (the
    ticket number as `no`, so prompts read it as the inbound call's do), with what its
    prompts and branches read about the resident and the try."""
    known = dict(parse_qsl(leg.query())) | {
        "no": leg.ticket_number,
        "phone_tail": leg.phone[-4:],
        "last_try": "yes" if leg.is_last_try else "no",
        "caller_said": spoken_digits(leg.caller.removeprefix("+86")),
    }
    # Not `remember()`: its cap keeps a sealed URL short, and a leg is written out plainly
    # (`leg_query`), so all of it is kept.
    data = tuple(sorted((key, value) for key, value in known.items() if value))
    return CallState(node, locale, no_input=no_input, no_match=no_match, data=data)


def leg_query(state: CallState, counted: bool) -> str:
    """A leg flow's state in the URLs Twilio calls back: the leg as the dispatcher wrote it,
    and for a question's answer the failures so far (`ni`, `nm`); the webhook's path says
    which node it is."""
    leg = CallbackLeg.from_args({key: state.value(key) for key in LEG_FIELDS if state.value(key)})
    return leg.query(ni=state.no_input, nm=state.no_match) if counted else leg.query()
