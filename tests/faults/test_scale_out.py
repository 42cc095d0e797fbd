"""Two hosts (two `ivr run` on two ports, each with its own spool and workers) on one
database and one Redis take a run of calls while one host's web and the other's worker
are killed: nothing is lost, and no SMS goes twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import Balanced, Hotline, RedisServer, events_per_call, place_calls, tally
from tests.faults.test_outages import CALLS, EVERY_S, assert_nothing_lost

pytestmark = pytest.mark.faults


def test_two_hosts_lose_nothing_when_a_web_and_a_worker_are_killed(
    tmp_path: Path, database_url: str
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    hosts = [Hotline(tmp_path / name, redis.url, database_url) for name in ("a", "b")]
    try:
        for host in hosts:
            host.folder.mkdir(parents=True)
            host.start()
        per_call = events_per_call(hosts[0])
        first, second = hosts

        def kill_a_web_and_a_worker() -> None:
            time.sleep(3)
            for pid in first.children("gunicorn"):
                os.kill(pid, signal.SIGKILL)
            os.kill(second.children("-m worker worker")[0], signal.SIGKILL)

        results = place_calls(Balanced(hosts), CALLS, EVERY_S, "CAscale", kill_a_web_and_a_worker)
        found = tally(first, results, per_call, others=[second])
        assert_nothing_lost(found)
        assert all(host.ready() for host in hosts)  # the killed parts were replaced
    finally:
        for host in hosts:
            host.stop()
        redis.stop()
