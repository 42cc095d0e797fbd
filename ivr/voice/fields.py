"""Reading the fields Twilio posts, cleaned at the edge.

A signed request still carries text we did not write: a carrier's caller name, a number
a forger chose, a value mangled on the way. Every field the voice webhooks read comes
through here, so what reaches the engine and the call log is plain text of a bounded
length (control characters, NUL included, removed) and numbers that are finite and in
range. Pure string work: no SQL, nothing slow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ivr.core.events import plain_text
from ivr.flows.engine import Reply
from ivr.flows.speech import clean_digits, clean_speech

MAX_COUNTER = 100  # failure counters and step numbers come back from Twilio; cap them
MAX_NUMBER_CHARS = 32  # longer than any number Twilio sends; int() of more is slow
MAX_CALL_S = 7 * 24 * 3600  # far beyond Twilio's longest call: anything more is not a duration
URL_SCHEMES = ("https://", "http://")


def text(form: Mapping[str, str], name: str, limit: int = 64) -> str:
    """A text field: control characters removed, at most `limit` characters."""
    return plain_text(form.get(name, "")[: limit * 4], limit)


def url(form: Mapping[str, str], name: str, limit: int = 512) -> str:
    """A URL Twilio gives us (a recording's): web addresses only, else empty."""
    found = text(form, name, limit)
    return found if found.lower().startswith(URL_SCHEMES) else ""


def whole_number(form: Mapping[str, str], name: str, limit: int) -> int | None:
    """A count of something (seconds, a sequence number): None unless 0..limit."""
    raw = form.get(name, "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_NUMBER_CHARS:
        return None
    number = int(raw)
    return number if number <= limit else None


def duration(form: Mapping[str, str], name: str) -> dict[str, int]:
    """Twilio's length of a call or a bridge, as an event's `duration_s`; nothing when it
    sent none we can read."""
    seconds = whole_number(form, name, limit=MAX_CALL_S)
    return {} if seconds is None else {"duration_s": seconds}


def count(form: Mapping[str, str], name: str, limit: int = MAX_COUNTER) -> int:
    """A counter or a position: held to 0..limit, 0 when unreadable."""
    return bounded_count(form.get(name), limit)


def bounded_count(raw: str | None, limit: int = MAX_COUNTER) -> int:
    try:
        return max(0, min(int((raw or "0")[:MAX_NUMBER_CHARS]), limit))
    except ValueError:
        return 0


def confidence(form: Mapping[str, str]) -> float | None:
    """The recogniser's confidence, 0 to 1; anything else (nan, inf, 1e999, 7) is absent."""
    raw = form.get("Confidence", "").strip()
    if not raw or len(raw) > MAX_NUMBER_CHARS:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def reply(form: Mapping[str, str]) -> Reply:
    """What the caller did at a <Gather>: keys, words and how sure the recogniser was."""
    return Reply(
        clean_digits(form.get("Digits", "")),
        clean_speech(form.get("SpeechResult", "")),
        confidence(form),
    )
