"""What a call has learned travels in Twilio's action URLs sealed into one opaque value.

The caller's unit, description and choices would otherwise sit in plain URL parameters,
and so in every access log and in Twilio's request logs. Fernet (AES and an HMAC) keeps
them unreadable and untouchable; sealing or opening one takes microseconds, so the
webhooks stay fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

Remembered = tuple[tuple[str, str], ...]

MAX_TOKEN_CHARS = 32_768  # above the largest state we seal (16 values of 200 characters)
_KEY_PURPOSE = b"hotline call state in action URLs, v1"


def state_key(secret: str) -> bytes:
    """A Fernet key of its own derived from `secret`, so the secret itself is never reused."""
    digest = hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


class StateSeal:
    """Seals remembered values into a token and opens tokens it sealed.

    The first secret seals; any of them opens, so a key can be changed without cutting
    off the calls in progress: set the new one first and keep the old one behind it for
    the length of a call, then drop it."""

    def __init__(self, secret: str, *older: str) -> None:
        if not secret:
            raise ValueError("sealing call state needs a secret")
        self._fernet = MultiFernet([Fernet(state_key(key)) for key in (secret, *older) if key])

    def seal(self, remembered: Remembered) -> str:
        text = json.dumps(dict(remembered), ensure_ascii=False, separators=(",", ":"))
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, token: str) -> Remembered | None:
        """The values sealed in `token`; None when it is not a token this hotline sealed."""
        if len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        try:
            values = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError):
            return None
        if not isinstance(values, dict):
            return None
        return tuple(sorted((str(k), str(v)) for k, v in values.items()))


def seal_for(state_keys: str, secret_key: str) -> StateSeal:
    """The seal for IVR_STATE_KEY (`new,old` while changing it), else for SECRET_KEY."""
    keys = [key.strip() for key in state_keys.split(",") if key.strip()]
    return StateSeal(*keys) if keys else StateSeal(secret_key)
