"""The SMS outbox: every message is stored first, then sent by a worker, at most once.

A message's dedupe key names why it is sent (`ticket:42:confirmation`), so asking
twice queues it once. The worker claims a row (PENDING → SENDING) in its own
committed transaction before it talks to Twilio. A row found SENDING means a
worker stopped mid-send: it may have gone out, so it becomes UNKNOWN for a person
to check and is never sent again. A replay must not text a resident twice.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.core.clock import Clock
from ivr.models import MessageStatus, OutboundMessage
from ivr.outbound.telephony import Telephony, TelephonyError
from ivr.queues import OUTBOUND_JOB, SEND_SMS_JOB, outbound_queue
from ivr.store.db import Database, insert_ignoring_duplicates

log = logging.getLogger(__name__)

ORPHANED = "a worker stopped while sending; check Twilio's message log before sending again"
# The rows a sender settles once Twilio answers: its own SENDING claim, or UNKNOWN when
# a duplicate job judged the claim orphaned meanwhile. The sender knows better.
IN_FLIGHT = (MessageStatus.SENDING, MessageStatus.UNKNOWN)


def queue_sms(
    session: Session, *, dedupe_key: str, to: str, body: str, purpose: str, now: datetime
) -> int | None:
    """Store an SMS to send; returns its id, or None when this dedupe key was queued before."""
    row = {
        "dedupe_key": dedupe_key,
        "to_number": to,
        "body": body,
        "purpose": purpose,
        "status": MessageStatus.PENDING.value,
        "created_at": now,
    }
    table: Any = OutboundMessage.__table__
    if not insert_ignoring_duplicates(session, table, [row], "dedupe_key"):
        return None
    return session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.dedupe_key == dedupe_key)
    ).one()


def enqueue_sms_delivery(redis: Redis, message_id: int) -> str:
    """Ask a worker to send a queued SMS (after the row is committed); returns the job id."""
    job = outbound_queue(redis).enqueue(SEND_SMS_JOB, message_id, **OUTBOUND_JOB)
    return str(job.id)


def deliver_sms(
    db: Database, telephony: Telephony, clock: Clock, message_id: int, *, may_retry: bool
) -> MessageStatus | None:
    """Send one stored SMS at most once; returns the status it ends in (None: no such row).

    Raises TelephonyError after a temporary failure when `may_retry`, so the job runs again.
    """
    with db.session() as session:
        claimed = claim_for_sending(session, message_id)
    if claimed is None:
        return _current_status(db, message_id)
    try:
        sid = telephony.send_sms(claimed.to_number, claimed.body)
    except TelephonyError as exc:
        return _settle_error(db, message_id, exc, may_retry=may_retry)
    with db.session() as session:
        mark_sent(session, message_id, sid, clock.now())
    return MessageStatus.SENT


def claim_for_sending(session: Session, message_id: int) -> OutboundMessage | None:
    """PENDING → SENDING and the row to send; None when it is not ours to send."""
    if _move(session, message_id, (MessageStatus.PENDING,), MessageStatus.SENDING):
        return session.get(OutboundMessage, message_id)
    if _move(session, message_id, (MessageStatus.SENDING,), MessageStatus.UNKNOWN, ORPHANED):
        log.warning("SMS %s was left mid-send; marked unknown, not sent again", message_id)
    return None


def mark_sent(session: Session, message_id: int, twilio_sid: str, at: datetime) -> None:
    _move(
        session, message_id, IN_FLIGHT, MessageStatus.SENT, None, twilio_sid=twilio_sid, sent_at=at
    )


def unsent_pending(session: Session, now: datetime) -> list[int]:
    """PENDING rows older than a minute: their job was never enqueued (a worker died between
    the commit and the enqueue), so the sweeper hands them to RQ again."""
    cutoff = now - timedelta(minutes=1)
    statement = select(OutboundMessage.id).where(
        OutboundMessage.status == MessageStatus.PENDING, OutboundMessage.created_at <= cutoff
    )
    return list(session.scalars(statement))


def settle_abandoned_sends(session: Session, now: datetime) -> int:
    """SENDING long after every retry would have finished: its worker died mid-send.
    UNKNOWN, for a person to check; never sent again (a replay must not duplicate an SMS)."""
    cutoff = now - timedelta(minutes=15)
    statement = (
        update(OutboundMessage)
        .where(
            OutboundMessage.status == MessageStatus.SENDING, OutboundMessage.created_at <= cutoff
        )
        .values(status=MessageStatus.UNKNOWN, error=ORPHANED)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def mark_failed(session: Session, message_id: int, error: str) -> None:
    _move(session, message_id, IN_FLIGHT, MessageStatus.FAILED, error)


def mark_unknown(session: Session, message_id: int, error: str) -> None:
    _move(session, message_id, IN_FLIGHT, MessageStatus.UNKNOWN, error)


def release_for_retry(session: Session, message_id: int, error: str) -> None:
    """Twilio surely did not take it: back to PENDING for the next attempt."""
    _move(session, message_id, IN_FLIGHT, MessageStatus.PENDING, error)


def _settle_error(
    db: Database, message_id: int, exc: TelephonyError, *, may_retry: bool
) -> MessageStatus:
    # Not the text: Twilio's names the resident's number, which stays in the row only (R3).
    kind = "permanent" if exc.permanent else "maybe sent" if exc.maybe_sent else "temporary"
    log.warning("SMS %s not sent: %s error, Twilio code %s", message_id, kind, exc.code)
    with db.session() as session:
        if exc.maybe_sent:
            mark_unknown(session, message_id, exc.message)
            return MessageStatus.UNKNOWN
        if exc.permanent or not may_retry:
            mark_failed(session, message_id, exc.message)
            return MessageStatus.FAILED
        release_for_retry(session, message_id, exc.message)
    raise exc


def _move(
    session: Session,
    message_id: int,
    from_statuses: Collection[MessageStatus],
    to_status: MessageStatus,
    error: str | None = None,
    **changes: Any,
) -> bool:
    """One conditional UPDATE, so two workers can never both win the same row."""
    statement = (
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.status.in_(from_statuses))
        .values(status=to_status, error=error, **changes)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _current_status(db: Database, message_id: int) -> MessageStatus | None:
    with db.reader() as session:
        return session.scalar(
            select(OutboundMessage.status).where(OutboundMessage.id == message_id)
        )
