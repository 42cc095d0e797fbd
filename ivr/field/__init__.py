"""The technician's phone page for one work order (/field/<signed link>): what the order is,
where, when, whom to call; and the three things a technician does there: arrived, done
(with what was done, the materials and any fee for 有偿服务) and "cannot finish", which sends
the order back to the dispatcher. The link from the dispatch SMS is the pass: no password
on site. It stops working when it expires or the order is no longer theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ivr.core.labels import TICKET_CATEGORIES, TICKET_STATUSES, TICKET_STEPS
from ivr.core.prompts import visit_window
from ivr.models import Ticket, TicketStatus, User
from ivr.services import services
from ivr.tickets.field_links import FieldPass, read_field_token
from ivr.tickets.lifecycle import hand_on
from ivr.tickets.query import find_ticket
from ivr.tickets.workflow import FIELD_STEPS, Actor, Moving, Step, StepError, move_ticket, step_name

field = Blueprint("field", __name__, url_prefix="/field")

EXPIRED = "链接无效或已过期，请联系派工人员。 This link is invalid or has expired."
NOT_YOURS = (
    "这个工单已改派或退回，请联系派工人员。 This order is no longer yours: ask the dispatcher."
)
WORKING = frozenset({TicketStatus.DISPATCHED, TicketStatus.ON_SITE})


@dataclass(frozen=True)
class FieldOrder:
    """What the page shows: the order as the technician needs it on the doorstep."""

    ticket: Ticket
    technician: User
    unit: str
    resident: str
    visit: str

    @property
    def working(self) -> bool:
        return self.ticket.status in WORKING


def _order(session: Session, granted: FieldPass) -> FieldOrder | None:
    ticket = find_ticket(session, str(granted.ticket_id))
    technician = session.get(User, granted.technician_id)
    if ticket is None or technician is None or ticket.id != granted.ticket_id:
        return None
    found = services()
    catalogue = found.engine.catalogues.get(ticket.locale) or next(
        iter(found.engine.catalogues.values())
    )
    visit = ""
    if ticket.appointment_start and ticket.appointment_end:
        zone = found.settings.timezone
        visit = visit_window(catalogue, ticket.appointment_start, ticket.appointment_end, zone)
    resident = ticket.resident.name if ticket.resident else ""
    unit = ticket.unit.label if ticket.unit else (ticket.unit_text or "")
    return FieldOrder(ticket, technician, unit, resident, visit)


def _refused(message: str, status: int) -> ResponseReturnValue:
    return render_template("field_refused.html", message=message), status


def _page(
    token: str, order: FieldOrder, problem: str = "", status: int = 200
) -> ResponseReturnValue:
    return (
        render_template(
            "field_order.html",
            order=order,
            token=token,
            problem=problem,
            categories=TICKET_CATEGORIES,
            statuses=TICKET_STATUSES,
            steps=TICKET_STEPS,
            zone=services().settings.timezone,
        ),
        status,
    )


def _theirs(order: FieldOrder | None, granted: FieldPass) -> str:
    """Why this link no longer opens the order ("" when it does)."""
    if order is None:
        return "这个工单已不存在。 This order no longer exists."
    ticket = order.ticket
    if ticket.technician_id != granted.technician_id and ticket.status not in {
        TicketStatus.DONE,
        TicketStatus.CLOSED,
    }:
        return NOT_YOURS
    if ticket.status == TicketStatus.CANCELLED:
        return "这个工单已取消。 This order was cancelled."
    return ""


@field.get("/<token>")
def order_page(token: str) -> ResponseReturnValue:
    found = services()
    granted = read_field_token(found.settings, token, found.clock.now())
    if granted is None:
        return _refused(EXPIRED, 403)
    with found.db.reader() as session:
        order = _order(session, granted)
        why = _theirs(order, granted)
        if why or order is None:
            return _refused(why, 410)
        return _page(token, order)


@field.post("/<token>")
def take_step(token: str) -> ResponseReturnValue:
    found = services()
    granted = read_field_token(found.settings, token, found.clock.now())
    if granted is None:
        return _refused(EXPIRED, 403)
    wanted = request.form.get("to", "")
    with found.db.session() as session:
        order = _order(session, granted)
        why = _theirs(order, granted)
        if why or order is None:
            return _refused(why, 410)
        try:
            step = Step.asked(
                wanted,
                note=request.form.get("note", ""),
                materials=request.form.get("materials", ""),
                fee=request.form.get("fee", ""),
            )
            if step.to not in FIELD_STEPS:
                raise StepError("这一步要由派工人员操作。 Only the dispatcher takes this step.")
            actor = Actor(order.technician.display_name, "technician", order.technician.id)
            now, site = found.clock.now(), request.host_url
            moving = Moving(found.settings, found.engine.catalogues, now, site)
            taken = step_name(order.ticket, step.to)
            follow = move_ticket(session, order.ticket, step, actor, moving)
        except StepError as refused:
            # Refused before anything was written: the page again, saying why.
            return _page(token, order, str(refused), 409 if refused.conflict else 422)
    hand_on(found.redis, follow)
    flash(f"已记录：{TICKET_STEPS.get(taken, (taken, ''))[0]}", "notice")
    return redirect(url_for("field.order_page", token=token), 303)
