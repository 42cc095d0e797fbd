"""Taking a job off a queue without the moment in which a dying worker loses it.

A worker that listens on several queues gets its jobs from RQ with BLPOP: Redis removes
the job's id from the queue as it sends it. A worker killed at that instant (SIGKILL, the
OOM killer, a host going down) never reads the reply, and the job is then in no queue and
no registry: it is never run. Fault runs that killed workers every ten seconds lost the
webhook that arrived at each kill this way.

RQ closes that gap only for a worker on a single queue: it moves the id to the queue's
intermediate list (BLMOVE), and its maintenance retries a job found there that no worker
started within a minute. `ReliableQueue` does the same for a worker on several queues:
one script moves the first waiting id, in the worker's queue order, to its queue's
intermediate list; with nothing waiting it blocks briefly on the busiest queue only,
since Redis cannot block on several lists with a move. A job on another queue waits at
most `WAKE_S` on an idle worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout, NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.serializers import Serializer
from rq.timeouts import BaseDeathPenalty
from rq.utils import as_text, backend_class

from worker.call_log_batches import QUEUE_KEY as CALL_LOG_QUEUE_KEY

WAKE_S = 0.5  # how long an idle worker blocks on the busiest queue before it looks at all

# KEYS: queue, its intermediate list, the next queue, its list, ... in the worker's order.
_MOVE_FIRST = """
for i = 1, #KEYS, 2 do
  local id = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'LEFT', 'RIGHT')
  if id then return {KEYS[i], id} end
end
return false
"""


def intermediate_key(queue_key: str) -> str:
    return IntermediateQueue.get_intermediate_queue_key(queue_key)


def move_first_waiting(connection: Redis, queue_keys: Sequence[str]) -> tuple[str, str] | None:
    """The first waiting job id, in `queue_keys`' order, moved to its queue's
    intermediate list; None when every queue is empty."""
    keys = [key for queue_key in queue_keys for key in (queue_key, intermediate_key(queue_key))]
    found = connection.eval(_MOVE_FIRST, len(keys), *keys)
    if not found:
        return None
    queue_key, job_id = (as_text(part) for part in found)
    return queue_key, job_id


def busiest(queue_keys: Sequence[str]) -> str:
    return CALL_LOG_QUEUE_KEY if CALL_LOG_QUEUE_KEY in queue_keys else queue_keys[0]


def wait_briefly(
    connection: Redis, queue_keys: Sequence[str], seconds: float
) -> tuple[str, str] | None:
    key = busiest(queue_keys)
    # redis-py types the timeout as whole seconds; Redis takes a fraction.
    moved = connection.execute_command(
        "BLMOVE", key, intermediate_key(key), "LEFT", "RIGHT", seconds
    )  # type: ignore[no-untyped-call]
    return None if moved is None else (key, as_text(moved))


class ReliableQueue(Queue):
    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: Redis,
        job_class: type[Job] | None = None,
        serializer: Serializer | str | None = None,
        death_penalty_class: type[BaseDeathPenalty] | None = None,
    ) -> tuple[Job, Queue] | None:
        """As RQ's, but every id taken is moved to an intermediate list first, so a
        worker that dies holding it leaves it where RQ's maintenance finds it."""
        job_cls: type[Job] = backend_class(cls, "job_class", override=job_class)
        queue_keys = [queue.key for queue in queues]
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            found = move_first_waiting(connection, queue_keys)
            if found is None and ends is not None:
                left = ends - time.monotonic()
                if left <= 0:
                    raise DequeueTimeout(timeout, queue_keys)
                found = wait_briefly(connection, queue_keys, min(WAKE_S, left))
                if found is None:
                    continue
            if found is None:
                return None
            queue_key, job_id = found
            queue = cls.from_queue_key(
                queue_key,
                connection=connection,
                job_class=job_cls,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            try:
                job = job_cls.fetch(job_id, connection=connection, serializer=serializer)
            except NoSuchJobError:
                connection.lrem(intermediate_key(queue_key), 1, job_id)
                continue
            return job, queue
