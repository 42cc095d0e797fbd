"""Short ticket numbers the IVR reads back during the call, without SQL or Redis.

A number is the month and day plus a sequence of that day (1123007: sequence 7 on
23 November). Sequences are leased from the database in blocks (ivr.tickets.number_blocks) by a
thread beside the web process, and handed out here from memory, so a number is unique
whatever happens to Redis, and the number a caller hears is the one stored.

A replayed webhook gets the number it was given the first time: this process remembers
it, and Redis, when it answers, tells the other processes. If no leased number is at
hand (the database was away for a while), `for_call` says so and the caller is told the
number will come by SMS; the worker then numbers the ticket itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import date, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError

from ivr.core.ticket_numbers import number_for
from ivr.store.redis_rest import RedisRest

log = logging.getLogger(__name__)

BLOCK_SIZE = 20
LOW_WATER = 5  # lease the next block while this many are left: a burst never runs dry
# Under a surge the blocks follow the pace: the next block is leased while about ten
# seconds of numbers are left, and holds about thirty (a lease can wait seconds for the
# database's write lock while the workers store the surge). A restart wastes at most one.
PACE_WINDOW_S = 30.0
MAX_BLOCK = 1000
REMEMBER_CALLS = 5000
REMEMBER_FOR = timedelta(days=3)
REFILL_EVERY_S = 2.0

Lease = Callable[[date, int], range]


def holder_name() -> str:
    return f"{socket.gethostname()[:48]}:{os.getpid()}"


class TicketNumbers:
    def __init__(
        self,
        lease: Lease,
        redis: Redis | None = None,
        rest: RedisRest | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease = lease
        self._monotonic = monotonic
        self._taken_at: deque[float] = deque(maxlen=MAX_BLOCK)
        self._redis = redis
        self._blocks: dict[date, list[range]] = {}
        self._given: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._rest = rest or RedisRest()

    def for_call(self, call_sid: str, kind: str, local_day: datetime) -> str | None:
        """This call's number for a ticket of this kind, the same on every replay, or
        None when no leased number is at hand."""
        key = (call_sid, kind)
        with self._lock:
            known = self._given.get(key)
        if known is not None:
            return known
        sequence = self._take(local_day.date())
        if sequence is None:
            return None
        # One round trip to Redis: a replay another process saw first keeps that process's
        # number, and the sequence taken here is simply never used.
        number = self._settle(key, number_for(local_day.date(), sequence))
        with self._lock:
            self._given[key] = number
            while len(self._given) > REMEMBER_CALLS:
                self._given.popitem(last=False)
        return number

    def available(self, day: date) -> int:
        with self._lock:
            return sum(len(block) for block in self._blocks.get(day, []))

    def refill(self, today: date) -> None:
        """Keep today's and tomorrow's numbers above the low-water mark (SQL: call it
        from the refill thread or at start-up, never on a webhook)."""
        pace = self.pace()
        for day, low, size in (
            (today, max(LOW_WATER, pace // 3), min(MAX_BLOCK, max(BLOCK_SIZE, pace))),
            (today + timedelta(days=1), LOW_WATER, BLOCK_SIZE),
        ):
            if self.available(day) < low:
                leased = self._lease(day, size)
                with self._lock:
                    self._blocks.setdefault(day, []).append(leased)
        with self._lock:
            for stale in [day for day in self._blocks if day < today]:
                del self._blocks[stale]

    def pace(self) -> int:
        """How many numbers this process handed out over the last PACE_WINDOW_S."""
        since = self._monotonic() - PACE_WINDOW_S
        with self._lock:
            while self._taken_at and self._taken_at[0] < since:
                self._taken_at.popleft()
            return len(self._taken_at)

    def start_refiller(self, today: Callable[[], date]) -> threading.Thread:
        def loop() -> None:
            while True:
                try:
                    self.refill(today())
                except Exception:  # a database outage: try again shortly
                    log.exception("could not lease ticket numbers; retrying")
                self._wanted.wait(REFILL_EVERY_S)
                self._wanted.clear()

        thread = threading.Thread(target=loop, name="ticket-numbers", daemon=True)
        thread.start()
        return thread

    def _take(self, day: date) -> int | None:
        with self._lock:
            blocks = self._blocks.get(day, [])
            while blocks and not blocks[0]:
                blocks.pop(0)
            if not blocks:
                self._wanted.set()
                return None
            sequence = blocks[0][0]
            blocks[0] = blocks[0][1:]
            self._taken_at.append(self._monotonic())
            # The pace as of the refill thread's last look: it prunes the old takes.
            if sum(len(block) for block in blocks) < max(LOW_WATER, len(self._taken_at) // 3):
                self._wanted.set()
            return sequence

    def _settle(self, key: tuple[str, str], number: str) -> str:
        """Tell the other processes, unless one of them got there first."""
        if self._redis is None or self._rest.resting():
            return number
        try:
            if self._redis.set(_remembered(key), number, nx=True, ex=REMEMBER_FOR):
                return number
            raw = self._redis.get(_remembered(key))
        except (RedisError, OSError):
            self._rest.failed()
            return number
        return raw.decode() if isinstance(raw, bytes) else number


def _remembered(key: tuple[str, str]) -> str:
    return f"ticket-number:{key[0]}:{key[1]}"
