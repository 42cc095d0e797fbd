"""Call-log jobs taken in bulk: a worker storing one webhook's events also takes the
call-log jobs queued behind it and stores them all in one transaction.

One job per webhook keeps the web side simple and durable (each webhook's events are in
Redis before Twilio gets its answer); one transaction per webhook caps a worker at a few
dozen webhooks a second. Taking the queued jobs along lifts that without changing what the
web sends.

Nothing is lost if the worker dies with jobs in hand: they are moved, in one step, from
the queue to a list named after the worker, and deleted only once their events are
committed. A dead worker's list is put back at the head of the queue by the scheduler
once RQ has forgotten the worker (its heartbeat key has expired). Jobs put back may have
been stored already; storing is idempotent, so that costs a repeat, not a duplicate.

`IVR_CALL_LOG_TAKE_AT_MOST` (read once, when a worker starts; default 100) sets how many
jobs are taken along; 0 takes none, so each webhook is stored in its own transaction, as
before jobs were taken in bulk (bench/surge.py runs the two side by side).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from rq.job import Job

from ivr.config import env_int
from ivr.queues import CALL_LOG_QUEUE

log = logging.getLogger(__name__)

TAKE_AT_MOST_DEFAULT = 100  # webhooks per transaction: about 500 events, inside the job timeout
TAKE_AT_MOST_VARIABLE = "IVR_CALL_LOG_TAKE_AT_MOST"
QUEUE_KEY = f"rq:queue:{CALL_LOG_QUEUE}"
HANDS_KEY = "ivr:call-log:hands"  # the set of in-hand lists, so the scheduler can find them
WORKER_KEY_PREFIX = "rq:worker:"

# LPOP with a count needs Redis 6.2; the embedded server is 6.2 and CI's is 7.
# Whatever is still in this worker's hand was never stored: an earlier take failed before
# its jobs could be deleted or given back (Redis dropped, say, and the worker carried on
# under the same name). It is taken first, so deleting the hand after a batch never
# deletes a job whose events were not in that batch.
_TAKE = """
local held = redis.call('LRANGE', KEYS[2], 0, -1)
local room = tonumber(ARGV[1]) - #held
if room > 0 then
  local ids = redis.call('LPOP', KEYS[1], room)
  if ids then
    redis.call('RPUSH', KEYS[2], unpack(ids))
    for _, id in ipairs(ids) do held[#held + 1] = id end
  end
end
if #held > 0 then redis.call('SADD', KEYS[3], KEYS[2]) end
return held
"""

_GIVE_BACK = """
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #ids, 1, -1 do redis.call('LPUSH', KEYS[1], ids[i]) end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], KEYS[2])
return #ids
"""


def configured_take_at_most() -> int:
    return max(0, env_int(TAKE_AT_MOST_VARIABLE, TAKE_AT_MOST_DEFAULT))


TAKE_AT_MOST = configured_take_at_most()


def in_hand_key(worker_name: str) -> str:
    return f"ivr:call-log:in-hand:{worker_name}"


@contextmanager
def queued_behind(
    connection: Redis, worker_name: str, record_job: str, limit: int | None = None
) -> Iterator[list[list[dict[str, Any]]]]:
    """The payloads of up to `limit` (TAKE_AT_MOST) call-log jobs waiting in the queue, held
    by this worker while the caller stores them; deleted when the block ends normally, put
    back when it raises."""
    hand = in_hand_key(worker_name)
    most = TAKE_AT_MOST if limit is None else limit
    found = connection.eval(_TAKE, 3, QUEUE_KEY, hand, HANDS_KEY, most) if most > 0 else []
    ids = [raw.decode() for raw in found]
    jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    taken = [job for job in jobs if job.func_name == record_job]
    try:
        yield [list(job.args[0]) for job in taken]
    except BaseException:
        give_back(connection, hand)
        raise
    with connection.pipeline() as pipe:
        for job in taken:
            # Only the job's hash: RQ's own delete asks each job's status in turn, which
            # costs more than storing its events. These jobs are in no registry.
            pipe.delete(job.key)
        pipe.delete(hand)
        pipe.srem(HANDS_KEY, hand)
        pipe.execute()
    strangers = [job for job in jobs if job.func_name != record_job]
    for job in strangers:  # never expected on this queue; run by a worker as usual
        connection.rpush(QUEUE_KEY, job.id)


def give_back(connection: Redis, hand: str) -> int:
    return int(connection.eval(_GIVE_BACK, 3, QUEUE_KEY, hand, HANDS_KEY))


def give_back_abandoned(connection: Redis) -> int:
    """Put the jobs held by workers that died back on the queue; returns how many."""
    returned = 0
    for raw in connection.smembers(HANDS_KEY):
        hand = raw.decode() if isinstance(raw, bytes) else str(raw)
        worker = hand.rsplit(":", 1)[-1]
        if connection.exists(f"{WORKER_KEY_PREFIX}{worker}"):
            continue
        count = give_back(connection, hand)
        if count:
            log.warning("worker %s died with %d call-log jobs in hand; queued again", worker, count)
        returned += count
    return returned
