"""The hotline's background processes against a real redis-server: the scheduler (`ivr
scheduler`) treats a lost Redis as a pause, and a worker says so when Redis would forget
the queued jobs on a restart."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.scheduler import RQScheduler

from ivr.queues import CALL_LOG_QUEUE
from ivr.store.redis_link import connect_patient
from tests.faults.harness import RedisServer
from tests.processes import wait_for
from worker.process import Scheduler, redis_keeps_data, warn_if_redis_forgets


def test_the_scheduler_rides_out_a_redis_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.worker")
    server = RedisServer(tmp_path / "redis")
    server.start()
    connection = connect_patient(server.url)
    scheduler = Scheduler(connection)
    # Signal handlers belong to a main thread; here the scheduler runs beside the test.
    monkeypatch.setattr(scheduler.scheduler, "_install_signal_handlers", lambda: None)
    running = threading.Thread(target=scheduler.run, daemon=True)
    running.start()
    try:
        lock = RQScheduler.get_locking_key(CALL_LOG_QUEUE)
        wait_for(lambda: True if connection.exists(lock) else None, 10, "the scheduler's lock")

        server.stop()
        wait_for(lambda: True if "lost Redis" in caplog.text else None, 10, "the lost Redis")
        server.start()  # the same port and folder: what a restarted server looks like

        queue = Queue(CALL_LOG_QUEUE, connection=connection)
        queue.enqueue_in(timedelta(seconds=1), "worker.jobs.record_call_events", [])
        wait_for(lambda: True if queue.count == 1 else None, 30, "the retry to reach its queue")
        assert "scheduler: Redis is back" in caplog.text
    finally:
        scheduler.scheduler._stop_requested = True
        running.join(15)
        connection.close()
        scheduler.scheduler.connection.connection_pool.disconnect()  # RQ's scheduler has its own
        server.stop()
    assert not running.is_alive()


def test_a_worker_warns_when_redis_keeps_nothing_on_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis")  # append-only, as production should run it
    server.start()
    connection = connect_patient(server.url)
    try:
        assert redis_keeps_data(connection) is True
        warn_if_redis_forgets(connection)
        assert "keeps nothing on disk" not in caplog.text

        connection.config_set("appendonly", "no")
        connection.config_set("save", "")
        assert redis_keeps_data(connection) is False
        warn_if_redis_forgets(connection)
        assert "a Redis restart loses the call-log events still queued" in caplog.text
    finally:
        connection.close()
        server.stop()
