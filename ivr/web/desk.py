"""The agent desk (坐席工作台) at /desk/: for now, who is signed in and their availability."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.app import services
from ivr.models import Availability, User
from ivr.staff import set_availability
from ivr.web.access import DESK_ROLES, current_staff, require_role

desk = Blueprint("desk", __name__, url_prefix="/desk")

AVAILABILITY_LABELS = {
    Availability.AVAILABLE: ("空闲", "Available"),
    Availability.BUSY: ("忙碌", "Busy"),
    Availability.AWAY: ("离开", "Away"),
}


def _signed_in_id() -> int:
    staff = current_staff()
    assert staff is not None, "require_role lets only signed-in staff through"
    return staff.id


@desk.get("/")
@require_role(*DESK_ROLES)
def home() -> ResponseReturnValue:
    with services().db.reader() as session:
        user = session.get(User, _signed_in_id())
    if user is None:
        abort(404)
    return render_template(
        "desk.html", user=user, choices=list(Availability), availability_labels=AVAILABILITY_LABELS
    )


@desk.post("/availability")
@require_role(*DESK_ROLES)
def availability() -> ResponseReturnValue:
    try:
        chosen = Availability(request.form.get("availability", ""))
    except ValueError:
        abort(400, "availability must be available, busy or away")
    with services().db.session() as session:
        set_availability(session, _signed_in_id(), chosen)
    flash("状态已保存 · Availability saved")
    return redirect(url_for("desk.home"))
