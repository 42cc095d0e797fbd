"""Getting call-log events to the workers without ever making a caller wait.

Events go to RQ. If Redis does not answer within its short timeout, they go to
the spool on this host instead, and Redis is left alone for a few seconds (ivr.store.redis_rest:
a dead Redis costs one timeout, not one per call). A background thread replays the
spool once Redis answers again.
"""

from __future__ import annotations

import logging
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

from ivr.calllog.spool import Payload, Spool
from ivr.core.events import CallEvent
from ivr.queues import CALL_LOG_JOB, RECORD_JOB, call_log_queue
from ivr.store.redis_rest import RedisRest

log = logging.getLogger(__name__)


class CallLogSink:
    def __init__(self, redis: Redis, spool: Spool, rest: RedisRest | None = None) -> None:
        self.redis = redis
        self.spool = spool
        self.rest = rest or RedisRest()
        self._queue = call_log_queue(redis)

    def record(self, events: list[CallEvent]) -> None:
        if not events:
            return
        payload = [event.to_dict() for event in events]
        if self.rest.resting() or not self._enqueue(payload):
            self.spool.put(payload)

    def replay_spool(self) -> int:
        """Move spooled batches to RQ; returns how many went. Safe to call from any process."""
        # Cheap checks first: each web worker runs this every few seconds, and listing a
        # spool that grew during a long outage would cost every one of them a sort.
        if not self.spool.has_pending():
            return 0
        try:
            self.redis.ping()
            return self.spool.drain(self._enqueue_or_raise)
        except (RedisError, OSError) as exc:
            log.info("spool replay waits for Redis: %s", exc)
            return 0

    def _enqueue(self, payload: Payload) -> bool:
        try:
            self._enqueue_or_raise(payload)
        except (RedisError, OSError) as exc:
            self.rest.failed()
            log.warning("Redis unavailable, spooling %d call-log events: %s", len(payload), exc)
            return False
        return True

    def _enqueue_or_raise(self, payload: Payload) -> None:
        # One pipeline, so enqueueing costs a single round trip to Redis.
        with self.redis.pipeline() as pipe:
            self._queue.enqueue(RECORD_JOB, payload, pipeline=pipe, **CALL_LOG_JOB)
            pipe.execute()


def start_spool_replayer(sink: CallLogSink, interval_s: float = 5.0) -> threading.Thread:
    """A daemon thread in each web process that empties the spool when Redis is back."""

    def loop() -> None:
        while True:
            time.sleep(interval_s)
            try:
                sink.replay_spool()
            except Exception:  # the thread must outlive any one bad batch
                log.exception("spool replay failed")

    thread = threading.Thread(target=loop, name="spool-replayer", daemon=True)
    thread.start()
    return thread
