"""Signing in and out at /login and /logout."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user

from ivr.registry.staff import authenticate
from ivr.services import services
from ivr.web.access import StaffMember, current_staff, landing_page, local_path

auth = Blueprint("auth", __name__)


def sign_in(username: str, password: str) -> StaffMember | None:
    """Check the credentials and record the attempt (failures count toward a lockout)."""
    found = services()
    with found.db.session() as db_session:
        user = authenticate(db_session, username, password, found.clock.now())
        return StaffMember.of(user) if user is not None else None


@auth.get("/login")
def login() -> ResponseReturnValue:
    staff, next_page = current_staff(), local_path(request.args.get("next"))
    if staff is not None:
        return redirect(next_page or landing_page(staff))
    return render_template("login.html", next_page=next_page, username="", refused=False)


@auth.post("/login")
def submit_login() -> ResponseReturnValue:
    username = request.form.get("username", "")
    next_page = local_path(request.form.get("next"))
    staff = sign_in(username, request.form.get("password", ""))
    if staff is None:
        # One answer for an unknown name, a wrong password and a locked account alike.
        return render_template(
            "login.html", next_page=next_page, username=username, refused=True
        ), 200
    session.clear()  # nothing from before sign-in (a planted session) carries over
    login_user(staff)
    return redirect(next_page or landing_page(staff))


@auth.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
