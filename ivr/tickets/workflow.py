"""A work order's steps after the call: acknowledged, dispatched to a technician, on site,
done, closed (a complaint: investigated, answered), with reassign, "cannot finish",
cancel and reopen. The console, the API and the technician's phone page all move a
ticket through `move_ticket`; the caller commits, then hands the follow-ups on.

Every step is stamped with who and when on the ticket's history, and a step the ticket's
status does not allow is refused (the API's 409). Asking for the status a ticket already
has (the same dispatch twice, a page sent again) changes nothing and texts nobody again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.core.labels import TICKET_CATEGORIES
from ivr.core.prompts import Catalogue
from ivr.models import (
    OPEN_STATUSES,
    Callback,
    CallbackKind,
    CallbackStatus,
    StaffRole,
    Ticket,
    TicketKind,
    TicketStatus,
    User,
)
from ivr.tickets.field_links import field_link
from ivr.tickets.lifecycle import (
    FollowUps,
    log_on_ticket,
    replan,
    resolve_ticket,
    text_for,
    visit_words,
)
from ivr.tickets.lifecycle import queue_text as _queue

Status = TicketStatus
MAX_NOTE = 1000
MAX_FEE_FEN = 10_000_000  # 10万元: more is a typing slip, not a repair bill

REPAIR_STEPS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.DISPATCHED, Status.CANCELLED}),
    Status.ACKNOWLEDGED: frozenset({Status.DISPATCHED, Status.CANCELLED}),
    # From dispatched: to dispatched again is a reassignment, to acknowledged "cannot finish".
    Status.DISPATCHED: frozenset(
        {Status.DISPATCHED, Status.ON_SITE, Status.DONE, Status.ACKNOWLEDGED, Status.CANCELLED}
    ),
    Status.ON_SITE: frozenset(
        {Status.DONE, Status.DISPATCHED, Status.ACKNOWLEDGED, Status.CANCELLED}
    ),
    Status.DONE: frozenset({Status.CLOSED, Status.OPEN}),
    Status.CLOSED: frozenset({Status.OPEN}),
    Status.CANCELLED: frozenset({Status.OPEN}),
}
COMPLAINT_STEPS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    Status.OPEN: frozenset(
        {Status.ACKNOWLEDGED, Status.INVESTIGATED, Status.ANSWERED, Status.CANCELLED}
    ),
    Status.ACKNOWLEDGED: frozenset({Status.INVESTIGATED, Status.ANSWERED, Status.CANCELLED}),
    Status.INVESTIGATED: frozenset({Status.ANSWERED, Status.CANCELLED}),
    Status.ANSWERED: frozenset({Status.CLOSED, Status.OPEN}),
    Status.CLOSED: frozenset({Status.OPEN}),
    Status.CANCELLED: frozenset({Status.OPEN}),
}
# The order the console offers the steps in: forward first, then the ways back.
STEP_ORDER = (
    Status.ACKNOWLEDGED,
    Status.DISPATCHED,
    Status.ON_SITE,
    Status.INVESTIGATED,
    Status.DONE,
    Status.ANSWERED,
    Status.CLOSED,
    Status.OPEN,
    Status.CANCELLED,
)
NEEDS_A_REASON = frozenset({Status.CANCELLED, Status.OPEN})
# Where the technician's phone page can take an order, and "cannot finish".
FIELD_STEPS = frozenset({Status.ON_SITE, Status.DONE, Status.ACKNOWLEDGED})


class StepError(Exception):
    """A step that cannot be taken; `conflict` when the ticket's status does not allow it
    (HTTP 409), else the request itself is wrong (HTTP 422)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True)
class Actor:
    """Who takes a step, as the history names them."""

    name: str
    role: str  # supervisor, admin, agent, technician, api, return_visit
    user_id: int | None = None


@dataclass(frozen=True)
class Step:
    to: TicketStatus
    technician: str = ""  # a username; empty: the default technician for the category
    note: str = ""
    materials: str = ""
    fee_fen: int | None = None

    @classmethod
    def asked(
        cls,
        to: str,
        technician: str = "",
        note: str = "",
        materials: str = "",
        fee: str = "",
    ) -> Step:
        """A step as a form or a JSON body writes it; raises StepError for odd values."""
        try:
            status = TicketStatus(to.strip())
        except ValueError:
            names = ", ".join(status.value for status in TicketStatus)
            raise StepError(f"unknown status {to!r}: one of {names}") from None
        for name, text in (("note", note), ("materials", materials)):
            if len(text) > MAX_NOTE:
                raise StepError(f"the {name} may be at most {MAX_NOTE} characters")
        return cls(
            to=status,
            technician=technician.strip(),
            note=note.strip(),
            materials=materials.strip(),
            fee_fen=fee_in_fen(fee),
        )


def fee_in_fen(raw: str) -> int | None:
    """A charge written in yuan (50, 50.5, ¥80.00) in fen; empty: no charge recorded."""
    text = raw.strip().lstrip("¥￥").replace(",", "").removesuffix("元").strip()
    if not text:
        return None
    try:
        yuan = Decimal(text)
    except InvalidOperation:
        raise StepError(f"the fee {raw!r} is not an amount in yuan, e.g. 50 or 80.50") from None
    fen = yuan * 100
    if not yuan.is_finite() or fen != fen.to_integral_value() or not 0 <= fen <= MAX_FEE_FEN:
        raise StepError(f"the fee {raw!r} is not an amount in yuan, e.g. 50 or 80.50")
    return int(fen)


def steps_from(ticket: Ticket) -> tuple[TicketStatus, ...]:
    """The statuses this ticket may move to next, in the order the console offers them."""
    table = REPAIR_STEPS if ticket.kind == TicketKind.REPAIR else COMPLAINT_STEPS
    allowed = table.get(ticket.status, frozenset())
    return tuple(status for status in STEP_ORDER if status in allowed)


# The console's buttons: forward steps first, then the ways back and off.
BUTTON_ORDER = (
    "acknowledged",
    "dispatched",
    "on_site",
    "investigated",
    "done",
    "answered",
    "closed",
    "reassign",
    "returned",
    "open",
    "cancelled",
)


def step_names(ticket: Ticket) -> list[str]:
    """The steps this ticket offers, by name (keys of labels.TICKET_STEPS), forward first."""
    names = {step_name(ticket, status) for status in steps_from(ticket)}
    return [name for name in BUTTON_ORDER if name in names]


def step_name(ticket: Ticket, to: TicketStatus) -> str:
    """The step's own name (a key of labels.TICKET_STEPS): reassign and "cannot finish"
    are moves to a status the order has had before."""
    if to == Status.DISPATCHED and ticket.status in {Status.DISPATCHED, Status.ON_SITE}:
        return "reassign"
    if to == Status.ACKNOWLEDGED and ticket.status in {Status.DISPATCHED, Status.ON_SITE}:
        return "returned"
    return to.value


# --- technicians ------------------------------------------------------------------------------


def technicians(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.role == StaffRole.TECHNICIAN).order_by(User.username)
        )
    )


def open_orders_by_technician(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Ticket.technician_id, func.count())
        .where(Ticket.technician_id.is_not(None), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.technician_id)
    )
    return {int(technician or 0): int(count) for technician, count in rows}


def default_technician(session: Session, category: str) -> User | None:
    """Whom dispatch offers: a technician of the order's trade with the fewest open orders;
    with nobody of that trade, any technician, the least busy first."""
    everyone = technicians(session)
    load = open_orders_by_technician(session)
    of_trade = [person for person in everyone if category in (person.trades or [])]
    pool = of_trade or everyone
    return min(pool, key=lambda person: (load.get(person.id, 0), person.username), default=None)


def _technician_for(session: Session, ticket: Ticket, step: Step) -> User:
    if step.technician:
        found = session.scalars(
            select(User).where(
                User.username == step.technician.casefold(), User.role == StaffRole.TECHNICIAN
            )
        ).one_or_none()
        if found is None:
            raise StepError(f"no technician {step.technician!r}")
        return found
    chosen = default_technician(session, ticket.category)
    if chosen is None:
        raise StepError(
            "no technician to dispatch to: add one with `ivr users add --role technician`"
        )
    return chosen


# --- the steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moving:
    """What one step needs besides the ticket: where the technician's link points."""

    settings: Settings
    catalogues: Mapping[str, Catalogue]
    now: datetime
    site: str  # the hotline's address for links (https://hotline.example.com)


def move_ticket(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    """Take one step; raises StepError for a step the ticket's status does not allow or a
    request missing what the step needs (a reason to cancel or reopen)."""
    if _already_there(session, ticket, step):
        return FollowUps()
    if step.to not in steps_from(ticket):
        raise StepError(
            f"a {ticket.kind.value} that is {ticket.status.value} cannot move to {step.to.value}",
            conflict=True,
        )
    if step.to in NEEDS_A_REASON and not step.note:
        raise StepError(f"say why ({step.to.value} needs a note)")
    name = step_name(ticket, step.to)
    if name == "returned" and not step.note:
        raise StepError("say why the order cannot be finished (a note)")
    take = STEPS.get(name, _plain)
    return take(session, ticket, step, actor, moving)


def _already_there(session: Session, ticket: Ticket, step: Step) -> bool:
    """The same step asked again: nothing to do (a dispatch to the technician it has)."""
    if step.to != ticket.status:
        return False
    if step.to == Status.DISPATCHED and step.technician:
        chosen = _technician_for(session, ticket, step)
        return chosen.id == ticket.technician_id
    return True


def _log(
    session: Session, ticket: Ticket, kind: str, actor: Actor, moving: Moving, **detail: object
) -> None:
    shown = {key: value for key, value in detail.items() if value not in (None, "")}
    log_on_ticket(
        session,
        ticket,
        f"step:{kind}:{moving.now.isoformat()}",
        moving.now,
        kind,
        by=actor.name,
        **shown,
    )


def _acknowledge(ticket: Ticket, now: datetime) -> None:
    # Any step taken means someone has the order: R6's escalation clock stops.
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = now


def _plain(session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving) -> FollowUps:
    """Acknowledged, investigated, closed: a status and a stamp."""
    now = moving.now
    _acknowledge(ticket, now)
    if step.to == Status.INVESTIGATED:
        ticket.investigated_at = now
    if step.to == Status.CLOSED:
        ticket.closed_at = now
    ticket.status = step.to
    _log(session, ticket, step.to.value, actor, moving, notes=step.note)
    return FollowUps()


def _dispatch(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    """To a technician (named, or the default for the category): they get the order by SMS
    with a link to its page, and the resident is told who is coming and when."""
    technician = _technician_for(session, ticket, step)
    reassigning = ticket.status in {Status.DISPATCHED, Status.ON_SITE}
    before = ticket.technician
    now = moving.now
    _acknowledge(ticket, now)
    ticket.status, ticket.technician_id, ticket.technician = (
        Status.DISPATCHED,
        technician.id,
        technician,
    )
    ticket.dispatched_at = ticket.dispatched_at or now
    if reassigning:
        ticket.on_site_at = None  # the new technician has not been yet
    _log(
        session,
        ticket,
        "reassigned" if reassigning else "dispatched",
        actor,
        moving,
        technician=technician.display_name,
        before=before.display_name if reassigning and before else "",
        notes=step.note,
    )
    follow = FollowUps()
    _text_technician(session, ticket, technician, moving, follow)
    _text_resident(session, ticket, "sms.resident_dispatched", moving, follow, technician)
    return follow


def _on_site(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    _acknowledge(ticket, moving.now)
    ticket.status, ticket.on_site_at = Status.ON_SITE, moving.now
    _log(session, ticket, "on_site", actor, moving, notes=step.note)
    return FollowUps()


def _done(session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving) -> FollowUps:
    """The work finished (a complaint answered): what was done, used and charged; the return
    visit is promised within 24 hours, and a repair's resident is texted."""
    now = moving.now
    _acknowledge(ticket, now)
    if ticket.kind == TicketKind.REPAIR and ticket.on_site_at is None:
        ticket.on_site_at = now  # finished without "arrived" pressed: they were there by now
    ticket.work_note = step.note or ticket.work_note
    ticket.materials = step.materials or ticket.materials
    ticket.fee_fen = step.fee_fen if step.fee_fen is not None else ticket.fee_fen
    resolve_ticket(
        session,
        ticket,
        now,
        by=actor.name,
        notes=step.note,
        materials=step.materials,
        fee=_yuan(step.fee_fen),
    )
    follow = FollowUps()
    if ticket.kind == TicketKind.REPAIR:
        _text_resident(session, ticket, "sms.resident_done", moving, follow)
    return follow


def _returned(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    """ "Cannot finish": back to the dispatcher, who is texted, to send someone else."""
    technician = ticket.technician
    ticket.status, ticket.technician_id, ticket.technician = Status.ACKNOWLEDGED, None, None
    _log(
        session,
        ticket,
        "returned",
        actor,
        moving,
        technician=technician.display_name if technician else "",
        notes=step.note,
    )
    follow = FollowUps()
    contacts = moving.settings.escalation_contacts
    if len(contacts) >= 2:
        body = _staff_text(
            moving,
            "sms.order_returned",
            number=ticket.number,
            unit=ticket.unit.label if ticket.unit else (ticket.unit_text or ""),
            technician=technician.display_name if technician else actor.name,
            note=step.note,
        )
        key = f"ticket:{ticket.id}:returned:{moving.now.isoformat()}"
        _queue(session, follow, key, contacts[1], body, "order_returned", moving.now)
    return follow


def _cancel(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    ticket.status, ticket.cancelled_at = Status.CANCELLED, moving.now
    _withdraw_pending_callbacks(session, ticket)
    _log(session, ticket, "cancelled", actor, moving, reason=step.note)
    return FollowUps()


def _reopen(
    session: Session, ticket: Ticket, step: Step, actor: Actor, moving: Moving
) -> FollowUps:
    """Open again with deadlines counted from now; the history keeps what happened before."""
    now = moving.now
    ticket.status = Status.OPEN
    ticket.resolved_at = ticket.return_visit_due = ticket.closed_at = ticket.cancelled_at = None
    ticket.dispatched_at = ticket.on_site_at = ticket.investigated_at = None
    ticket.acknowledged_at = ticket.breach_warned_at = ticket.breached_at = None
    _withdraw_pending_callbacks(session, ticket)
    replan(ticket, now, moving.settings)
    _log(session, ticket, "reopened", actor, moving, reason=step.note)
    return FollowUps()


def _withdraw_pending_callbacks(session: Session, ticket: Ticket) -> None:
    """A return visit owed for work that is undone, or an order called off, is not made."""
    pending = session.scalars(
        select(Callback).where(
            Callback.ticket_id == ticket.id,
            Callback.kind == CallbackKind.SURVEY,
            Callback.status == CallbackStatus.PENDING,
        )
    )
    for callback in pending:
        callback.status = CallbackStatus.CANCELLED


STEPS = {
    "dispatched": _dispatch,
    "reassign": _dispatch,
    "on_site": _on_site,
    "done": _done,
    "answered": _done,
    "returned": _returned,
    "cancelled": _cancel,
    "open": _reopen,
}


# --- the texts -------------------------------------------------------------------------------


def _yuan(fen: int | None) -> str:
    return "" if fen is None else f"{Decimal(fen) / 100:.2f}"


def _staff_text(moving: Moving, key: str, **values: str) -> str:
    locale = moving.settings.default_locale
    return text_for(moving.catalogues, locale, key, moving.settings, **values)


def _visit(ticket: Ticket, moving: Moving, locale: str) -> str:
    """The agreed visit, else the on-site promise, else "as soon as possible"."""
    words = visit_words(ticket, moving.settings, moving.catalogues, locale)
    return words or text_for(moving.catalogues, locale, "sms.when_soon", moving.settings)


def _text_technician(
    session: Session, ticket: Ticket, technician: User, moving: Moving, follow: FollowUps
) -> None:
    locale = moving.settings.default_locale
    category = TICKET_CATEGORIES.get(ticket.category, (ticket.category, ticket.category))
    description = (ticket.description or ticket.transcription or "").strip()
    body = _staff_text(
        moving,
        "sms.technician_dispatch",
        number=ticket.number,
        unit=ticket.unit.label if ticket.unit else (ticket.unit_text or ""),
        category=category[0] if locale.startswith("zh") else category[1],
        description=description[:80] or "—",
        when=_visit(ticket, moving, locale),
        caller=ticket.caller_number,
        link=field_link(moving.settings, moving.site, ticket.id, technician.id, moving.now),
    )
    key = f"ticket:{ticket.id}:technician:{technician.id}:{moving.now.isoformat()}"
    _queue(session, follow, key, technician.phone, body, "technician_dispatch", moving.now)


def _text_resident(
    session: Session,
    ticket: Ticket,
    key: str,
    moving: Moving,
    follow: FollowUps,
    technician: User | None = None,
) -> None:
    if not ticket.caller_number.startswith("+"):
        return
    body = text_for(
        moving.catalogues,
        ticket.locale,
        key,
        moving.settings,
        number=ticket.number,
        technician=technician.display_name if technician else "",
        when=_visit(ticket, moving, ticket.locale),
    )
    dedupe = f"ticket:{ticket.id}:{key}:{moving.now.isoformat()}"
    _queue(
        session, follow, dedupe, ticket.caller_number, body, key.removeprefix("sms."), moving.now
    )
