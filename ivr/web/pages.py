"""The staff's web pages: sign-in, the agent desk and the supervisor console.

Server-rendered Jinja pages behind Flask-Login sessions, with CSRF on every form.
Twilio's webhooks and the bearer-token API have their own protection, so the
factory names their blueprints in `exempt`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect

from ivr.config import Settings
from ivr.services import services
from ivr.web.access import current_staff, init_login
from ivr.web.auth import auth
from ivr.web.sign_in_limit import limit_sign_ins

PAGES_KEY = "ivr.staff_pages"  # the blueprints whose answers get PAGE_HEADERS

# Pages with staff and residents' details: never framed, cached or leaked in a Referer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def register_web(
    app: Flask, settings: Settings, pages: Sequence[Blueprint], exempt: Iterable[Blueprint]
) -> None:
    """Sessions, CSRF, sign-in and the staff `pages` (the desk, the console); `exempt`
    blueprints skip CSRF."""
    configure_cookies(app, settings)
    # A desk stays open for a whole shift: the token lives as long as the session.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    init_login(app)
    staff_pages = (auth, *pages)
    for page in staff_pages:
        app.register_blueprint(page)
    app.extensions[PAGES_KEY] = frozenset(page.name for page in staff_pages)
    limit_sign_ins(app, settings, app.extensions["ivr"].redis)
    app.after_request(add_page_headers)
    app.register_error_handler(CSRFError, csrf_refused)
    app.context_processor(page_context)


def configure_cookies(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.is_production,
    )


def add_page_headers(response: Response) -> Response:
    if request.blueprint not in current_app.extensions[PAGES_KEY]:
        return response
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page_context() -> dict[str, Any]:
    """What every page's header shows: the hotline's name and who is signed in."""
    return {"hotline_name": services().settings.hotline_name, "staff": current_staff()}


def csrf_refused(error: CSRFError) -> ResponseReturnValue:
    return render_template("csrf_refused.html"), 400
