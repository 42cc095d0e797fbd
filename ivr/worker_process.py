"""The worker process behind `ivr worker`: an RQ worker with its scheduler."""

from __future__ import annotations

from ivr.app import create_app, services
from ivr.redis_link import connect_patient
from worker.queues import ALL_QUEUES
from worker.runtime import HotlineWorker, use_app


def run_worker(burst: bool = False) -> bool:
    app = create_app()
    use_app(app)
    with app.app_context():
        settings = services().settings
        url = settings.redis_url or services().embedded_redis.url  # type: ignore[union-attr]
    connection = connect_patient(url)
    worker = HotlineWorker(list(ALL_QUEUES), connection=connection)
    return bool(worker.work(burst=burst, with_scheduler=True))
