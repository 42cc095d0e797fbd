"""The technician's link to one order's phone page: signed with the hotline's secret, so no
password is needed on site, and good for a few days. It names the order and the technician;
the page also refuses it once the order is no longer theirs (reassigned, finished).

The expiry travels inside the signed payload and is checked against the hotline's clock,
so tests set the time instead of waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from ivr.config import Settings

LINK_LIFETIME = timedelta(days=3)
SALT = "field-order-link"
PATH = "/field/"


@dataclass(frozen=True)
class FieldPass:
    ticket_id: int
    technician_id: int
    expires_at: datetime


def _signer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=SALT)


def field_token(settings: Settings, ticket_id: int, technician_id: int, now: datetime) -> str:
    expires = int((now + LINK_LIFETIME).timestamp())
    return str(_signer(settings).dumps({"t": ticket_id, "u": technician_id, "x": expires}))


def field_link(
    settings: Settings, site: str, ticket_id: int, technician_id: int, now: datetime
) -> str:
    """The whole link the SMS carries."""
    base = (settings.public_base_url or site).rstrip("/")
    return f"{base}{PATH}{field_token(settings, ticket_id, technician_id, now)}"


def read_field_token(settings: Settings, token: str, now: datetime) -> FieldPass | None:
    """The pass a token grants, or None when it is forged, mangled or expired."""
    try:
        payload = _signer(settings).loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    ticket, technician, expires = payload.get("t"), payload.get("u"), payload.get("x")
    if not (isinstance(ticket, int) and isinstance(technician, int) and isinstance(expires, int)):
        return None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        return None
    return FieldPass(ticket, technician, expires_at)
