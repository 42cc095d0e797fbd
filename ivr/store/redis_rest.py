"""One pause per process after Redis fails to answer on the request path.

A webhook that finds Redis gone costs its short timeout once; the webhooks after it, in
the call-log sink and in ticket numbering alike, leave Redis alone for a few seconds
instead of each paying the same timeout. So a dead or frozen Redis costs one timeout
every few seconds per web process, not one or two per webhook.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RedisRest:
    def __init__(self, rest_s: float = 2.0, monotonic: Callable[[], float] = time.monotonic):
        self.rest_s = rest_s
        self._monotonic = monotonic
        self._until = 0.0
        self._lock = threading.Lock()

    def resting(self) -> bool:
        return self._monotonic() < self._until

    def failed(self) -> None:
        """Redis did not answer: leave it alone for `rest_s` from now."""
        with self._lock:
            self._until = self._monotonic() + self.rest_s
