"""A limit on refused sign-ins per address, on top of the per-account lockout in
ivr/registry/staff.py.

The lockout stops guessing one account's password; this stops one address guessing many
accounts. Only refused attempts count, so a whole office signing in at the start of a shift
from one address is never held up. The counts live in the hotline's Redis; when Redis is
down the limit steps aside (with a log line) rather than keep staff from signing in.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse_many
from redis import Redis

from ivr.config import ConfigError, Settings
from ivr.web.auth import submit_login

SIGN_IN_ENDPOINT = "auth.submit_login"
SIGNED_IN = 302  # the sign-in page redirects once the credentials are right

log = logging.getLogger(__name__)


def limit_sign_ins(app: Flask, settings: Settings, redis: Redis) -> None:
    """Wrap the sign-in view (already registered) in a per-address limit kept in `redis`."""
    check_limit(settings.login_rate_limit)
    limiter = Limiter(
        get_remote_address,
        app=app,
        # The app's own client: its short timeouts, and the embedded Redis when there is one.
        storage_uri="redis://",
        storage_options={"connection_pool": redis.connection_pool},  # type: ignore[dict-item]
        strategy="moving-window",
        swallow_errors=True,
        key_prefix="sign-in",
    )
    limiter.request_filter(lambda: request.endpoint != SIGN_IN_ENDPOINT)
    per_address = limiter.limit(settings.login_rate_limit, deduct_when=was_refused)
    app.view_functions[SIGN_IN_ENDPOINT] = per_address(submit_login)
    app.register_error_handler(RateLimitExceeded, too_many_sign_ins)


def check_limit(text: str) -> None:
    try:
        parse_many(text)
    except ValueError as exc:
        raise ConfigError(f"LOGIN_RATE_LIMIT must look like '10 per minute', not {text!r}") from exc


def was_refused(response: Response) -> bool:
    return response.status_code != SIGNED_IN


def too_many_sign_ins(error: RateLimitExceeded) -> ResponseReturnValue:
    log.warning("too many refused sign-ins from %s (%s)", request.remote_addr, error.limit.limit)
    retry_after = str(error.limit.limit.get_expiry())
    return render_template("sign_in_limited.html"), 429, {"Retry-After": retry_after}
