"""Short ticket numbers the IVR can read back during the call, without touching SQL.

A number is the report's month and day plus a daily sequence (1123007: the 7th
ticket on 23 November), counted in Redis. A replayed webhook gets the number it
was given the first time. If Redis is down the number comes from the CallSid in
the 900s, and the worker settles any clash before the confirmation SMS is sent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError

KEEP = timedelta(days=3)
FALLBACK_BASE = 900


def day_key(day: datetime) -> str:
    return f"{day:%m%d}"


def fallback_number(call_sid: str, kind: str, local_day: datetime) -> str:
    digest = int(hashlib.sha256(f"{call_sid}:{kind}".encode()).hexdigest(), 16)
    return f"{day_key(local_day)}{FALLBACK_BASE + digest % 100}"


class TicketNumbers:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def for_call(self, call_sid: str, kind: str, local_day: datetime) -> str:
        """The number of this call's ticket of this kind, the same on every replay."""
        remembered = f"ticket-number:{call_sid}:{kind}"
        try:
            known = self.redis.get(remembered)
            if known:
                return known.decode() if isinstance(known, bytes) else str(known)
            number = self._next(local_day)
            if not self.redis.set(remembered, number, nx=True, ex=KEEP):
                raw = self.redis.get(remembered)
                return raw.decode() if isinstance(raw, bytes) else str(raw)
            return number
        except (RedisError, OSError):
            return fallback_number(call_sid, kind, local_day)

    def _next(self, local_day: datetime) -> str:
        counter = f"ticket-sequence:{local_day:%Y%m%d}"
        with self.redis.pipeline() as pipe:
            pipe.incr(counter)
            pipe.expire(counter, KEEP)
            sequence, _ = pipe.execute()
        if int(sequence) >= FALLBACK_BASE:  # keep clear of the fallback range
            return f"{day_key(local_day)}{int(sequence) + 100:04d}"
        return f"{day_key(local_day)}{int(sequence):03d}"


def spoken_digits(number: str) -> str:
    """Digit by digit, so TTS does not read 1123007 as one million…"""
    return " ".join(number)
