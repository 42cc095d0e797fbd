"""Everything one agent's desk shows at a moment: the same for the full page and for the
fragment the page polls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ivr.desk.messages import CallbackItem, my_callbacks, voicemails
from ivr.desk.take import CurrentTake, current_take, settle_availability
from ivr.desk.waiting import WaitingCaller, mark_taken, waiting_list
from ivr.models import Call, User, WrapUp
from ivr.services import Services

log = logging.getLogger(__name__)

MY_CALLS_SHOWN = 10


@dataclass(frozen=True)
class MyCall:
    """A call this agent took, and whether it is wrapped up."""

    call_sid: str
    started_at: datetime
    caller_number: str
    unit: str | None
    category: str | None
    outcome: str | None
    disposition: str | None


@dataclass(frozen=True)
class Board:
    now: datetime
    agent: User
    waiting: list[WaitingCaller]
    take: CurrentTake | None
    voicemails: list[CallbackItem]
    callbacks: list[CallbackItem]
    my_calls: list[MyCall]


def desk_board(found: Services, agent_id: int, supervisor: bool) -> Board | None:
    """The board for this agent (None if their account is gone); settles their availability
    first if the call they took was missed or abandoned meanwhile."""
    now = found.clock.now()
    with found.db.session() as session:
        take = _current_take(session, found.redis, agent_id)
        settle_availability(session, agent_id, take)
    with found.db.reader() as session:
        agent = session.get(User, agent_id)
        if agent is None:
            return None
        return Board(
            now=now,
            agent=agent,
            waiting=_taken_marked(found.redis, waiting_list(session, now)),
            take=take,
            voicemails=voicemails(session, agent_id, now),
            callbacks=my_callbacks(session, agent_id, now, with_unreachable=supervisor),
            my_calls=my_calls(session, agent_id),
        )


def my_calls(session: Session, agent_id: int) -> list[MyCall]:
    calls = list(
        session.scalars(
            select(Call)
            .where(Call.agent_id == agent_id)
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(MY_CALLS_SHOWN)
        )
    )
    done = dict(
        session.execute(
            select(WrapUp.call_sid, WrapUp.disposition).where(
                and_(WrapUp.agent_id == agent_id, WrapUp.call_sid.in_([c.call_sid for c in calls]))
            )
        ).all()
    )
    return [
        MyCall(
            call.call_sid,
            call.started_at,
            call.caller_number,
            call.unit,
            call.category.value if call.category else None,
            call.outcome.value if call.outcome else None,
            done[call.call_sid].value if call.call_sid in done else None,
        )
        for call in calls
    ]


def _current_take(session: Session, redis: Redis, agent_id: int) -> CurrentTake | None:
    try:
        return current_take(session, redis, agent_id)
    except RedisError:
        log.warning("desk: Redis unavailable; agent %d's current call not shown", agent_id)
        return None


def _taken_marked(redis: Redis, callers: list[WaitingCaller]) -> list[WaitingCaller]:
    try:
        return mark_taken(redis, callers)
    except RedisError:
        log.warning("desk: Redis unavailable; who took which caller not shown")
        return callers
