"""Who is signed in, and what their role lets them open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec
from urllib.parse import urlsplit

from flask import Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user

from ivr.models import StaffRole, User
from ivr.services import services

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]

DESK_ROLES = (StaffRole.AGENT, StaffRole.SUPERVISOR, StaffRole.ADMIN)
CONSOLE_ROLES = (StaffRole.SUPERVISOR, StaffRole.ADMIN)


@dataclass(frozen=True)
class StaffMember:
    """The signed-in person as Flask-Login sees them: a snapshot, not a database row."""

    id: int
    username: str
    display_name: str
    role: StaffRole

    is_authenticated = True
    is_active = True
    is_anonymous = False

    @classmethod
    def of(cls, user: User) -> StaffMember:
        return cls(user.id, user.username, user.display_name, user.role)

    def get_id(self) -> str:
        return str(self.id)


def load_staff_member(user_id: str) -> StaffMember | None:
    """Flask-Login's user loader: read on every request, so a removed account is out at once."""
    if not user_id.isdigit():
        return None
    with services().db.reader() as session:
        user = session.get(User, int(user_id))
        return StaffMember.of(user) if user is not None else None


def init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.user_loader(load_staff_member)
    manager.login_view = "auth.login"


def current_staff() -> StaffMember | None:
    """The signed-in member of staff, or None for an anonymous visitor."""
    user = current_user._get_current_object()
    return user if isinstance(user, StaffMember) else None


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: `next` must not send people away."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\\evil.example" as "//evil.example"; control characters hide tricks.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def landing_page(staff: StaffMember) -> str:
    if staff.role in CONSOLE_ROLES:
        return url_for("console.home")
    return url_for("desk.home")


def login_redirect() -> ResponseReturnValue:
    here = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=here))


def require_role(*roles: StaffRole) -> Callable[[View[P]], View[P]]:
    """Let in only staff with one of `roles`: anonymous visitors are sent to sign in,
    others get a 403 page."""
    allowed = frozenset(roles)

    def decorate(view: View[P]) -> View[P]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            staff = current_staff()
            if staff is None:
                return login_redirect()
            if staff.role not in allowed:
                return render_template("forbidden.html"), 403
            return view(*args, **kwargs)

        return guarded

    return decorate
