"""Repair orders and complaint tickets: opened from calls, timed by the service levels,
escalated and flagged by scheduled jobs. Runs in workers only; every step is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from redis import Redis
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.core.callback_prompts import EMERGENCY_BY_CATEGORY
from ivr.core.events import CallEvent
from ivr.core.hours import next_closing
from ivr.core.labels import RATING_WORDS
from ivr.core.prompts import Catalogue, moment_words, visit_window
from ivr.core.service_levels import ServiceLevels, load_service_levels
from ivr.core.ticket_numbers import number_for
from ivr.models import (
    OPEN_STATUSES,
    Callback,
    CallbackKind,
    Ticket,
    TicketKind,
    TicketLog,
    TicketPriority,
    TicketStatus,
)
from ivr.outbound.schedule import Owed, enqueue_attempt, owe_callback
from ivr.outbound.sms import enqueue_sms_delivery, queue_sms
from ivr.queues import ESCALATE_JOB, TICKETS_JOB, tickets_queue
from ivr.store.db import insert_ignoring_duplicates
from ivr.tickets.number_blocks import lease_in

log = logging.getLogger(__name__)

MAX_LEVEL = 3
# Nobody has been on site yet: the on-site promise still runs (a real timestamp stops it).
AWAITING_VISIT = (TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED, TicketStatus.DISPATCHED)
RETURN_VISIT_CALL_AFTER = timedelta(hours=2)
DISSATISFIED = 3


@cache
def service_levels() -> ServiceLevels:
    return load_service_levels()


@dataclass
class FollowUps:
    """What to hand to RQ once the transaction has committed."""

    sms: list[int] = field(default_factory=list)
    escalations: list[tuple[int, datetime]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)  # callbacks to try at once (alerts)

    def add(self, other: FollowUps) -> None:
        self.sms += other.sms
        self.escalations += other.escalations
        self.calls += other.calls


def hand_on(redis: Redis, follow: FollowUps) -> None:
    """After the commit: SMS to send now, escalations to run when they fall due."""
    for message_id in follow.sms:
        enqueue_sms_delivery(redis, message_id)
    for callback_id in follow.calls:
        enqueue_attempt(redis, callback_id)
    queue = tickets_queue(redis)
    for ticket_id, when in follow.escalations:
        queue.enqueue_at(
            when,
            ESCALATE_JOB,
            ticket_id,
            job_id=f"escalate-{ticket_id}-{when:%Y%m%d%H%M}",
            **TICKETS_JOB,
        )


def _when(
    moment: datetime | None, settings: Settings, catalogues: Mapping[str, Catalogue], locale: str
) -> str:
    catalogue = catalogues.get(locale) or catalogues[settings.default_locale]
    return moment_words(catalogue, moment, settings.timezone) if moment else ""


def _moment(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def _int(raw: Any) -> int | None:
    return int(raw) if str(raw).isdigit() else None


def log_on_ticket(
    session: Session, ticket: Ticket, key: str, at: datetime, kind: str, **detail: Any
) -> bool:
    """Write one history line, once: returns False when it was already there."""
    row = {
        "ticket_id": ticket.id,
        "dedupe_key": f"ticket:{ticket.id}:{key}",
        "at": at,
        "kind": kind,
        "detail": detail,
    }
    return insert_ignoring_duplicates(session, TicketLog.__table__, [row], "dedupe_key") == 1  # type: ignore[arg-type]


# --- opening ------------------------------------------------------------------------


def open_ticket(
    session: Session, event: CallEvent, settings: Settings, catalogues: Mapping[str, Catalogue]
) -> FollowUps:
    """A ticket_opened event becomes a ticket (once per call and kind), with its deadlines."""
    detail = event.detail
    kind = TicketKind(detail["kind"])
    existing = session.scalars(
        select(Ticket).where(and_(Ticket.call_sid == event.call_sid, Ticket.kind == kind))
    ).one_or_none()
    if existing is not None:
        return FollowUps()
    ticket = _new_ticket(session, event, kind, settings)
    session.add(ticket)
    session.flush()
    log_on_ticket(
        session,
        ticket,
        "created",
        event.at,
        "created",
        number=ticket.number,
        call_sid=event.call_sid,
    )
    follow = FollowUps()
    _confirm_by_sms(session, ticket, settings, catalogues, follow, event.at)
    if kind == TicketKind.COMPLAINT:
        _notify_level(session, ticket, settings, catalogues, follow, event.at)
        if ticket.escalation_due:
            follow.escalations.append((ticket.id, ticket.escalation_due))
    if detail.get("alert") == "call":
        follow.add(alert_oncall(session, ticket, 0, settings, catalogues, event.at))
    return follow


# --- alerting the on-call engineer (gas, fire) ----------------------------------------------

ALERT_KEY = "alert:ticket:{ticket}:rung:{rung}"


def alert_oncall(
    session: Session,
    ticket: Ticket,
    rung: int,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    now: datetime,
) -> FollowUps:
    """Ring this rung of the on-call ladder about an emergency order (an alert call, tried
    at once and at any hour), and text them the same facts; past the last rung, or with
    nobody on call, the caller is owed a callback at top priority. Once per order and rung."""
    follow = FollowUps()
    ladder = settings.oncall_ladder
    if rung >= len(ladder):
        _owe_emergency_callback(session, ticket, now, "nobody on call" if not ladder else "")
        _tell_managers(session, ticket, settings, catalogues, follow, now)
        return follow
    phone, key = ladder[rung], ALERT_KEY.format(ticket=ticket.id, rung=rung)
    owed = Owed(
        key=key,
        call_sid=ticket.call_sid,
        phone=phone,
        reason=f"emergency {ticket.number}: on-call rung {rung + 1}",
        due_at=now,
        created_at=now,
        kind=CallbackKind.ALERT,
        important=True,
        queue="emergency",
        locale=settings.default_locale,
        ticket_id=ticket.id,
    )
    if owe_callback(session, owed):
        callback_id = session.scalars(select(Callback.id).where(Callback.dedupe_key == key)).one()
        follow.calls.append(callback_id)
        log_on_ticket(session, ticket, f"alert:{rung}", now, "engineer_alerted", rung=rung)
    follow.add(text_engineer(session, phone, _facts(ticket), settings, catalogues, now))
    return follow


def _facts(ticket: Ticket) -> dict[str, str]:
    return {
        "unit": ticket.unit_text or "",
        "emg": EMERGENCY_BY_CATEGORY.get(ticket.category, "other"),
        "caller": ticket.caller_number,
        "number": ticket.number,
    }


MANAGERS_TOLD = 2  # 接待人 and 客服主管: the escalation contacts who can send help at night


def _tell_managers(
    session: Session,
    ticket: Ticket,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    follow: FollowUps,
    now: datetime,
) -> None:
    """No engineer took an emergency: the first escalation contacts are texted at once, so
    a person sends help even at night, before any agent is in to call the resident back."""
    body = _emergency_text(catalogues, "sms.emergency_unanswered", settings, _facts(ticket))
    contacts = settings.escalation_contacts[:MANAGERS_TOLD]
    for contact in contacts:
        key = f"ticket:{ticket.id}:unanswered:{contact}"
        queue_text(session, follow, key, contact, body, "emergency_unanswered", now)
    if contacts:
        log_on_ticket(session, ticket, "managers-told", now, "managers_told", to=list(contacts))


def alert_rung(callback: Callback) -> int | None:
    """Which rung an alert callback rang, from its key."""
    head, _, rung = callback.dedupe_key.rpartition(":rung:")
    return int(rung) if head.startswith("alert:ticket:") and rung.isdigit() else None


def _owe_emergency_callback(session: Session, ticket: Ticket, now: datetime, why: str) -> None:
    """Nobody on call took the order: a person calls the resident back, first in line."""
    if not ticket.caller_number.startswith("+"):
        return
    reason = f"emergency {ticket.number}: {why or 'no on-call engineer took it'}"
    owed = Owed(
        key=f"emergency:ticket:{ticket.id}:callback",
        call_sid=ticket.call_sid,
        phone=ticket.caller_number,
        reason=reason,
        due_at=now + service_levels().callback_emergency,  # tried at once, never due at birth
        next_attempt_at=now,
        created_at=now,
        important=True,
        keeps_place=True,
        queue="emergency",
        locale=ticket.locale,
        ticket_id=ticket.id,
    )
    owe_callback(session, owed)


def text_engineer(
    session: Session,
    phone: str,
    facts: Mapping[str, Any],
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    now: datetime,
) -> FollowUps:
    """The SMS an on-call engineer gets about an emergency order: the unit, the kind, the
    resident's number, the order number. Once per order and engineer."""
    follow = FollowUps()
    if not phone.startswith("+"):
        return follow
    body = _emergency_text(catalogues, "sms.engineer_alert", settings, facts)
    order = facts.get("number") or facts.get("call_sid") or ""
    queue_text(session, follow, f"engineer:{order}:{phone}", phone, body, "engineer_alert", now)
    return follow


def _emergency_text(
    catalogues: Mapping[str, Catalogue], key: str, settings: Settings, facts: Mapping[str, Any]
) -> str:
    """An SMS about an emergency order, to staff: its number, the unit, the kind, the caller."""
    locale = settings.default_locale
    kind = text_for(catalogues, locale, f"emergency.kind.{facts.get('emg') or 'other'}", settings)
    unit = str(facts.get("unit") or "") or text_for(
        catalogues, locale, "oncall.unit_unknown", settings
    )
    return text_for(
        catalogues,
        locale,
        key,
        settings,
        number=str(facts.get("number") or ""),
        unit=unit,
        kind=kind,
        caller=str(facts.get("caller") or ""),
    )


def _new_ticket(session: Session, event: CallEvent, kind: TicketKind, settings: Settings) -> Ticket:
    detail, levels, created = event.detail, service_levels(), event.at
    category = str(detail.get("cat") or "other")
    emergency = kind == TicketKind.REPAIR and bool(detail.get("emg"))
    ticket = Ticket(
        number=_ticket_number(
            session, str(detail.get("number") or ""), created, settings, event.call_sid
        ),
        number_year=created.astimezone(settings.timezone).year,
        kind=kind,
        category=category,
        status=TicketStatus.OPEN,
        unit_id=_int(detail.get("unit")),
        resident_id=_int(detail.get("who")),
        unit_text=str(detail.get("ul") or "")[:64] or None,
        caller_number=str(detail.get("caller", ""))[:32],
        locale=str(detail.get("locale", settings.default_locale)),
        description=str(detail.get("desc") or ""),
        recording_sid=str(detail.get("rec") or "") or None,
        recording_url=str(detail.get("recurl") or "") or None,
        appointment_slot=str(detail.get("slot") or "") or None,
        appointment_start=_moment(detail.get("from")),
        appointment_end=_moment(detail.get("to")),
        call_sid=event.call_sid,
        created_at=created,
        escalation_level=1,
    )
    if kind == TicketKind.REPAIR:
        ticket.sla_tier = levels.repair_tier(category, emergency)
        ticket.priority = TicketPriority.EMERGENCY if emergency else TicketPriority.NORMAL
        _plan_repair(ticket, levels, settings)
    else:
        ticket.sla_tier = levels.complaint_tier(category)
        ticket.priority = (
            TicketPriority.HIGH if ticket.sla_tier == "major" else TicketPriority.NORMAL
        )
        _plan_complaint(ticket, levels, settings)
    return ticket


def _ticket_number(
    session: Session, heard: str, created: datetime, settings: Settings, call_sid: str
) -> str:
    """The number the caller heard. A caller told "by SMS" (no leased number was at hand)
    gets one leased here; so does a heard number already stored, which leased numbers
    make impossible but numbers from before them could do: the SMS then tells the truth."""
    local = created.astimezone(settings.timezone)
    if heard:
        taken = session.scalar(
            select(Ticket.id).where(Ticket.number_year == local.year, Ticket.number == heard)
        )
        if taken is None:
            return heard
        log.error("call %s: ticket number %s is taken; numbering afresh", call_sid, heard)
    return number_for(local.date(), lease_in(session, local.date(), 1, created)[0])


def _plan_repair(ticket: Ticket, levels: ServiceLevels, settings: Settings) -> None:
    tier, created = levels.repair_tiers[ticket.sla_tier], ticket.created_at
    ticket.dispatch_by = tier.dispatch.due(created, settings) if tier.dispatch else None
    ticket.on_site_by = tier.on_site.due(created, settings) if tier.on_site else None
    ticket.resolve_by = tier.resolve.due(created, settings)
    if ticket.appointment_end and ticket.sla_tier != "emergency":
        # R5: the visit is at the time agreed with the resident; the work is due that day.
        ticket.on_site_by = ticket.appointment_end
        ticket.resolve_by = max(
            ticket.resolve_by, next_closing(settings, ticket.appointment_start or created)
        )


def _plan_complaint(ticket: Ticket, levels: ServiceLevels, settings: Settings) -> None:
    tier = levels.complaint_tiers[ticket.sla_tier]
    ticket.escalation_level = tier.start_level
    ticket.resolve_by = levels.investigate.due(ticket.created_at, settings)
    delays = tier.escalate_after
    ticket.escalation_due = ticket.created_at + delays[0] if delays else None


# --- messages -----------------------------------------------------------------------


def text_for(
    catalogues: Mapping[str, Catalogue], locale: str, key: str, settings: Settings, **values: str
) -> str:
    catalogue = catalogues.get(locale) or catalogues[settings.default_locale]
    name = settings.hotline_name_in(catalogue.locale)
    base = {"hotline_name": name, "hotline_number": settings.hotline_number}
    return catalogue.prompts[key].text.format_map({**base, **values})


def _confirm_by_sms(
    session: Session,
    ticket: Ticket,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    follow: FollowUps,
    now: datetime,
) -> None:
    """R9: the caller's confirmation SMS: the number and the promised time."""
    if not ticket.caller_number.startswith("+"):
        return
    if ticket.kind == TicketKind.COMPLAINT:
        key, when = "sms.complaint_confirmation", ticket.resolve_by
    elif ticket.priority == TicketPriority.EMERGENCY:
        key, when = "sms.emergency_confirmation", ticket.on_site_by
    else:
        key, when = "sms.repair_confirmation", None
    window = _window(ticket, settings, catalogues)
    if ticket.kind == TicketKind.REPAIR and ticket.priority != TicketPriority.EMERGENCY:
        # The visit window the caller chose; with none chosen, no time we did not agree.
        key = key if window else "sms.repair_confirmation_no_slot"
    body = text_for(
        catalogues,
        ticket.locale,
        key,
        settings,
        number=ticket.number,
        when=window if when is None else _when(when, settings, catalogues, ticket.locale),
    )
    queue_text(
        session,
        follow,
        f"ticket:{ticket.id}:confirmation",
        ticket.caller_number,
        body,
        "confirmation",
        now,
    )


def visit_words(
    ticket: Ticket, settings: Settings, catalogues: Mapping[str, Catalogue], locale: str
) -> str:
    """When someone comes, as a text to the resident or technician words it: the agreed
    window (12月3日上午9:00–12:00), else the on-site promise; "" with neither."""
    catalogue = catalogues.get(locale) or catalogues[settings.default_locale]
    if ticket.appointment_start is not None and ticket.appointment_end is not None:
        zone = settings.timezone
        return visit_window(catalogue, ticket.appointment_start, ticket.appointment_end, zone)
    return _when(ticket.on_site_by, settings, catalogues, locale)


def _window(ticket: Ticket, settings: Settings, catalogues: Mapping[str, Catalogue]) -> str:
    """The agreed visit, as the SMS words it (12月3日上午9:00–12:00); "" without one."""
    if ticket.appointment_start is None or ticket.appointment_end is None:
        return ""
    catalogue = catalogues.get(ticket.locale) or catalogues[settings.default_locale]
    return visit_window(
        catalogue, ticket.appointment_start, ticket.appointment_end, settings.timezone
    )


def queue_text(
    session: Session, follow: FollowUps, key: str, to: str, body: str, purpose: str, now: datetime
) -> None:
    message_id = queue_sms(session, dedupe_key=key, to=to, body=body, purpose=purpose, now=now)
    if message_id is not None:
        follow.sms.append(message_id)


def _notify_level(
    session: Session,
    ticket: Ticket,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    follow: FollowUps,
    now: datetime,
    why: str = "",
) -> None:
    """Tell the owner of the ticket's escalation level (接待人, 客服主管, 主管副总经理).
    `why` names a reason to tell them again at a level already told (a return visit)."""
    level = ticket.escalation_level
    role = service_levels().complaint_levels.get(level, str(level))
    contacts = settings.escalation_contacts
    suffix = f":{why}" if why else ""
    if len(contacts) < level:
        log_on_ticket(
            session,
            ticket,
            f"no-contact:{level}{suffix}",
            now,
            "not_notified",
            level=level,
            role=role,
        )
        return
    body = text_for(
        catalogues,
        settings.default_locale,
        "sms.return_visit_dissatisfied" if why else "sms.escalation",
        settings,
        number=ticket.number,
        role=role,
        when=_when(ticket.resolve_by, settings, catalogues, settings.default_locale),
    )
    queue_text(
        session,
        follow,
        f"ticket:{ticket.id}:level:{level}{suffix}",
        contacts[level - 1],
        body,
        "escalation",
        now,
    )
    log_on_ticket(
        session, ticket, f"notified:{level}{suffix}", now, "notified", level=level, role=role
    )


# --- escalation and service-level flags (scheduled jobs) ------------------------------


def escalate_if_due(
    session: Session,
    ticket: Ticket,
    now: datetime,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """R6: not acknowledged or resolved in time -> the next level, logged and notified."""
    follow = FollowUps()
    tier = service_levels().complaint_tiers.get(ticket.sla_tier)
    while (
        tier is not None
        and ticket.status.is_open
        and ticket.acknowledged_at is None
        and ticket.escalation_due is not None
        and ticket.escalation_due <= now
        and ticket.escalation_level < MAX_LEVEL
    ):
        due = ticket.escalation_due
        ticket.escalation_level += 1
        step = ticket.escalation_level - tier.start_level
        ticket.escalation_due = (
            due + tier.escalate_after[step] if step < len(tier.escalate_after) else None
        )
        log_on_ticket(
            session,
            ticket,
            f"escalated:{ticket.escalation_level}",
            now,
            "escalated",
            level=ticket.escalation_level,
            due=due.isoformat(),
        )
        _notify_level(session, ticket, settings, catalogues, follow, now)
    if ticket.escalation_due is not None and ticket.escalation_due > now:
        follow.escalations.append((ticket.id, ticket.escalation_due))
    return follow


def flag_service_levels(
    session: Session,
    ticket: Ticket,
    now: datetime,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """Flag a ticket about to miss its deadline (once), and one that missed it (once)."""
    follow = FollowUps()
    deadline = _next_deadline(ticket)
    if deadline is None:
        return follow
    warn_before = service_levels().warn_before
    if ticket.breach_warned_at is None and now >= deadline - warn_before:
        ticket.breach_warned_at = now
        log_on_ticket(
            session, ticket, "sla-warning", now, "sla_warning", deadline=deadline.isoformat()
        )
        _warn_supervisor(session, ticket, deadline, settings, catalogues, follow, now)
    if ticket.breached_at is None and now >= deadline:
        ticket.breached_at = now
        log_on_ticket(
            session, ticket, "sla-breached", now, "sla_breached", deadline=deadline.isoformat()
        )
    return follow


def next_deadline(ticket: Ticket) -> datetime | None:
    """The on-site promise while nobody has been there (R5), else the resolve-by deadline."""
    visit = ticket.on_site_by if ticket.status in AWAITING_VISIT else None
    present = [moment for moment in (visit, ticket.resolve_by) if moment is not None]
    return min(present) if present else None


def _next_deadline(ticket: Ticket) -> datetime | None:
    return next_deadline(ticket) if ticket.status.is_open else None


def _warn_supervisor(
    session: Session,
    ticket: Ticket,
    deadline: datetime,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
    follow: FollowUps,
    now: datetime,
) -> None:
    contacts = settings.escalation_contacts
    if len(contacts) < 2:
        return
    body = text_for(
        catalogues,
        settings.default_locale,
        "sms.sla_warning",
        settings,
        number=ticket.number,
        when=_when(deadline, settings, catalogues, settings.default_locale),
    )
    queue_text(
        session, follow, f"ticket:{ticket.id}:sla-warning", contacts[1], body, "sla_warning", now
    )


def tickets_needing_attention(session: Session, now: datetime) -> Iterable[Ticket]:
    """Open tickets whose escalation is due or whose deadline is within the warning window."""
    horizon = now + service_levels().warn_before + timedelta(minutes=1)
    return session.scalars(
        select(Ticket)
        .where(Ticket.status.in_(OPEN_STATUSES))
        .where(
            or_(
                and_(Ticket.escalation_due.is_not(None), Ticket.escalation_due <= now),
                and_(Ticket.breached_at.is_(None), Ticket.resolve_by <= horizon),
                and_(Ticket.breached_at.is_(None), Ticket.on_site_by <= horizon),
            )
        )
        .with_for_update(skip_locked=True)
    )


def resolve_ticket(
    session: Session, ticket: Ticket, now: datetime, by: str, **detail: str | None
) -> None:
    """Work done: the return visit (回访) falls due 24 hours later (R5, R6), and an
    automated survey call is promised for it. `detail` (notes, materials, fee) goes on the
    history line."""
    if ticket.resolved_at is not None:
        return
    ticket.status = TicketStatus.DONE if ticket.kind == TicketKind.REPAIR else TicketStatus.ANSWERED
    ticket.resolved_at = now
    ticket.return_visit_due = now + service_levels().return_visit_after
    # Keyed by the moment: a ticket reopened and resolved again is resolved (and visited) again.
    shown = {key: value for key, value in detail.items() if value}
    log_on_ticket(session, ticket, f"resolved:{now.isoformat()}", now, "resolved", by=by, **shown)
    _promise_return_visit(session, ticket, now)


def _promise_return_visit(session: Session, ticket: Ticket, now: datetime) -> None:
    """One survey callback per resolution: tried from a couple of hours after the work is
    done (time to see that it holds), by the return-visit deadline."""
    if not ticket.caller_number.startswith("+") or ticket.return_visit_due is None:
        return
    owed = Owed(
        key=f"survey:ticket:{ticket.id}:{now.isoformat()}",
        call_sid=ticket.call_sid,
        phone=ticket.caller_number,
        reason=f"return visit: {ticket.kind.value} {ticket.number} resolved",
        due_at=ticket.return_visit_due,
        next_attempt_at=min(now + RETURN_VISIT_CALL_AFTER, ticket.return_visit_due),
        created_at=now,
        kind=CallbackKind.SURVEY,
        queue=ticket.kind.value,
        locale=ticket.locale,
        ticket_id=ticket.id,
    )
    owe_callback(session, owed)


# --- the return visit's answer ----------------------------------------------------------


def note_return_visit(
    session: Session,
    ticket: Ticket,
    callback_id: int,
    rating: int,
    now: datetime,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """The resident's satisfaction on the ticket's log (once per survey); dissatisfied (3)
    reopens the ticket and takes it up a level, like a complaint nobody acted on (R6)."""
    label = RATING_WORDS.get(rating, str(rating))
    key = f"return-visit:{callback_id}"
    noted = log_on_ticket(
        session, ticket, key, now, "return_visit", rating=rating, satisfaction=label
    )
    if not noted:
        return FollowUps()
    if rating != DISSATISFIED:
        _close_after_return_visit(session, ticket, now, label)
        return FollowUps()
    why = Reopening(f"return-visit-{callback_id}", "回访不满意")
    return reopen_and_escalate(session, ticket, why, now, settings, catalogues)


def _close_after_return_visit(session: Session, ticket: Ticket, now: datetime, label: str) -> None:
    """A resident content with finished work: the order is archived (归档)."""
    if not ticket.status.is_finished:
        return
    ticket.status, ticket.closed_at = TicketStatus.CLOSED, now
    log_on_ticket(
        session, ticket, f"closed:{now.isoformat()}", now, "closed", by="回访", satisfaction=label
    )


@dataclass(frozen=True)
class Reopening:
    key: str  # names this reopening in the log's and the SMS's dedupe keys
    reason: str


def reopen_and_escalate(
    session: Session,
    ticket: Ticket,
    why: Reopening,
    now: datetime,
    settings: Settings,
    catalogues: Mapping[str, Catalogue],
) -> FollowUps:
    """Open again with fresh deadlines, one level up (at most the top), and tell that level."""
    ticket.status, ticket.resolved_at, ticket.return_visit_due = TicketStatus.OPEN, None, None
    ticket.acknowledged_at = ticket.breach_warned_at = ticket.breached_at = None
    ticket.closed_at = ticket.dispatched_at = ticket.on_site_at = ticket.investigated_at = None
    replan(ticket, now, settings)
    ticket.escalation_level = min(ticket.escalation_level + 1, MAX_LEVEL)
    level = ticket.escalation_level
    log_on_ticket(session, ticket, f"reopened:{why.key}", now, "reopened", reason=why.reason)
    log_on_ticket(
        session,
        ticket,
        f"escalated:{level}:{why.key}",
        now,
        "escalated",
        level=level,
        reason=why.reason,
    )
    follow = FollowUps()
    _notify_level(session, ticket, settings, catalogues, follow, now, why=why.key)
    if ticket.escalation_due is not None:
        follow.escalations.append((ticket.id, ticket.escalation_due))
    return follow


def replan(ticket: Ticket, now: datetime, settings: Settings) -> None:
    """The deadlines of a reopened ticket, counted from now."""
    levels = service_levels()
    if ticket.kind == TicketKind.COMPLAINT:
        tier = levels.complaint_tiers[ticket.sla_tier]
        ticket.resolve_by = levels.investigate.due(now, settings)
        step = ticket.escalation_level + 1 - tier.start_level
        delays = tier.escalate_after
        ticket.escalation_due = now + delays[step] if 0 <= step < len(delays) else None
        return
    repair = levels.repair_tiers[ticket.sla_tier]
    ticket.on_site_by = repair.on_site.due(now, settings) if repair.on_site else None
    ticket.resolve_by = repair.resolve.due(now, settings)
