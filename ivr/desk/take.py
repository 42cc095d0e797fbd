"""Taking a waiting caller at the desk, and following that call until it is wrapped up.

Taking locks the caller in Redis (SET NX, one lock per wait), marks the agent busy and
asks Twilio to redirect the caller's live call to the bridge webhook, which rings the
agent. What happened next is read back from the call log: the webhooks log whether the
agent answered, and the desk settles the agent's availability from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.calllog.write import AGENT_ANSWERED
from ivr.core.events import EventKind
from ivr.desk.waiting import WaitingCaller, lock_holder_name, mark_taken, waiting_list
from ivr.models import Availability, Call, CallEventRow, User
from ivr.outbound.telephony import TelephonyError
from ivr.registry.residents import is_e164
from ivr.registry.staff import set_availability
from ivr.services import Services
from ivr.voice.bridge import Bridge

# Long enough for the call log to show the bridge; the lock is per wait, so it never has
# to be released for the caller to be taken again after a missed agent.
TAKE_LOCK_TTL = timedelta(minutes=15)
UNCONFIRMED_LOCK_S = 60  # a bridge Twilio did start shows in the call log well within this
CURRENT_TAKE_TTL = timedelta(hours=12)
BRIDGE_STEPS_AFTER_HANDOFF = 2  # the hand-off's step, then the queue's own wait and result


class Refusal(StrEnum):
    NOBODY_WAITING = "nobody_waiting"
    NOT_WAITING = "not_waiting"
    TAKEN = "taken"
    ALREADY_YOURS = "already_yours"
    NO_PHONE = "no_phone"
    TELEPHONY = "telephony"
    UNCONFIRMED = "unconfirmed"  # Twilio may have redirected the call: do not retry blindly


class TakeRefusedError(Exception):
    def __init__(self, reason: Refusal, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    phone: str

    @property
    def lock_value(self) -> str:
        return f"{self.id}:{self.name}"


def take_caller(found: Services, agent: Agent, call_sid: str | None, base_url: str) -> Bridge:
    """Put a waiting caller (or, without `call_sid`, the first one nobody took) through to
    the agent's phone; raises TakeRefusedError saying why not."""
    if not is_e164(agent.phone):
        raise TakeRefusedError(Refusal.NO_PHONE)
    caller = _choose(found, call_sid)
    _lock(found.redis, caller, agent)
    bridge = Bridge(
        caller.handoff.node,
        caller.locale,
        caller.handoff.seq + BRIDGE_STEPS_AFTER_HANDOFF,
        agent.id,
        agent.name,
        agent.phone,
    )
    before = _set_availability(found, agent.id, Availability.BUSY)
    remember_take(found.redis, agent.id, caller.call_sid, bridge.seq)
    try:
        url = f"{base_url}/voice/desk/bridge?{bridge.as_query()}"
        found.telephony.redirect_call(caller.call_sid, url)
    except TelephonyError as error:
        if error.maybe_sent:
            # Twilio may be ringing the agent already: keep the caller to them for a
            # while, but not so long that a redirect that never happened strands the caller.
            found.redis.expire(caller.lock_key, UNCONFIRMED_LOCK_S)
            raise TakeRefusedError(Refusal.UNCONFIRMED, error.message) from error
        _give_back(found, caller, agent, before)
        raise TakeRefusedError(Refusal.TELEPHONY, error.message) from error
    return bridge


def _choose(found: Services, call_sid: str | None) -> WaitingCaller:
    with found.db.reader() as session:
        callers = mark_taken(found.redis, waiting_list(session, found.clock.now()))
    if call_sid is None:
        free = [caller for caller in callers if caller.taken_by is None]
        if not free:
            raise TakeRefusedError(Refusal.NOBODY_WAITING)
        return free[0]
    chosen = next((caller for caller in callers if caller.call_sid == call_sid), None)
    if chosen is None:
        raise TakeRefusedError(Refusal.NOT_WAITING)
    return chosen


def _lock(redis: Redis, caller: WaitingCaller, agent: Agent) -> None:
    ttl = int(TAKE_LOCK_TTL.total_seconds())
    if redis.set(caller.lock_key, agent.lock_value, nx=True, ex=ttl):
        return
    holder = redis.get(caller.lock_key) or b""
    if _text(holder) == agent.lock_value:
        raise TakeRefusedError(Refusal.ALREADY_YOURS)
    raise TakeRefusedError(Refusal.TAKEN, lock_holder_name(holder))


def _give_back(found: Services, caller: WaitingCaller, agent: Agent, before: Availability) -> None:
    """Twilio refused the redirect: the caller stays in the queue, free for anyone."""
    held = found.redis.get(caller.lock_key)
    if held is not None and _text(held) == agent.lock_value:
        found.redis.delete(caller.lock_key)
    forget_take(found.redis, agent.id, caller.call_sid)
    _set_availability(found, agent.id, before)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _set_availability(found: Services, agent_id: int, availability: Availability) -> Availability:
    """Set it and return what it was."""
    with found.db.session() as session:
        user = session.get(User, agent_id)
        before = user.availability if user else Availability.AWAY
        set_availability(session, agent_id, availability)
    return before


# --- the agent's current take ---------------------------------------------------------------


class TakeState(StrEnum):
    CONNECTING = "connecting"  # Twilio has the redirect; the bridge has not been logged yet
    RINGING = "ringing"  # the caller hears the transfer prompt, the agent's phone rings
    ANSWERED = "answered"
    MISSED = "missed"  # the agent did not answer: the caller is back in the queue
    CALLER_GONE = "caller_gone"  # the caller hung up before the agent answered


@dataclass(frozen=True)
class CurrentTake:
    call_sid: str
    seq: int
    state: TakeState


def _take_key(agent_id: int) -> str:
    return f"desk:agent:{agent_id}:take"


def remember_take(redis: Redis, agent_id: int, call_sid: str, seq: int) -> None:
    value = json.dumps({"call_sid": call_sid, "seq": seq})
    redis.set(_take_key(agent_id), value, ex=int(CURRENT_TAKE_TTL.total_seconds()))


def forget_take(redis: Redis, agent_id: int, call_sid: str | None = None) -> None:
    """Forget the agent's current take (only if it is `call_sid`, when given)."""
    remembered = _remembered(redis, agent_id)
    if call_sid is None or (remembered is not None and remembered[0] == call_sid):
        redis.delete(_take_key(agent_id))


def _remembered(redis: Redis, agent_id: int) -> tuple[str, int] | None:
    raw = redis.get(_take_key(agent_id))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return str(data["call_sid"]), int(data["seq"])
    except (ValueError, KeyError, TypeError):
        return None


def current_take(session: Session, redis: Redis, agent_id: int) -> CurrentTake | None:
    """The call this agent took last, and how it went so far (from the call log)."""
    remembered = _remembered(redis, agent_id)
    if remembered is None:
        return None
    call_sid, seq = remembered
    rows = session.execute(
        select(CallEventRow.kind, CallEventRow.detail).where(
            CallEventRow.call_sid == call_sid,
            CallEventRow.seq.in_([seq, seq + 1]),
            CallEventRow.kind.in_([EventKind.DESK_BRIDGE.value, EventKind.DESK_DIALED.value]),
        )
    ).all()
    ended = session.scalar(select(Call.status).where(Call.call_sid == call_sid))
    return CurrentTake(call_sid, seq, _state(list(rows), ended is not None and ended.is_final))


def _state(rows: list[tuple[str, dict[str, Any]]], call_ended: bool) -> TakeState:
    dialed = [detail for kind, detail in rows if kind == EventKind.DESK_DIALED]
    if dialed and dialed[0].get("status") in AGENT_ANSWERED:
        return TakeState.ANSWERED
    if dialed:
        return TakeState.CALLER_GONE if dialed[0].get("caller_gone") else TakeState.MISSED
    if call_ended:
        return TakeState.CALLER_GONE
    return TakeState.RINGING if rows else TakeState.CONNECTING


def settle_availability(session: Session, agent_id: int, take: CurrentTake | None) -> None:
    """An agent who let the phone ring out goes away (nobody should be put through to
    them again until they say so); one whose caller hung up first is free again."""
    user = session.get(User, agent_id)
    if take is None or user is None or user.availability != Availability.BUSY:
        return
    if take.state == TakeState.MISSED:
        user.availability = Availability.AWAY
    elif take.state == TakeState.CALLER_GONE:
        user.availability = Availability.AVAILABLE
