"""`ivr run`: the whole hotline on one machine, as the Procfile describes it.

Starts an embedded Redis when REDIS_URL is unset, migrates the database, then
runs the web and worker processes under honcho until one of them stops.
"""

from __future__ import annotations

import os
import shlex
import sys

import click
from honcho.manager import Manager

from ivr.config import Settings, load_settings
from ivr.db import upgrade
from ivr.redis_link import EmbeddedRedis
from ivr.residents import ImportReport, load_demo_estate_if_empty, registry_session


def web_command(port: int, workers: int) -> str:
    return f"{shlex.quote(sys.executable)} -m ivr.cli web --port {port} --workers {workers}"


def cron_command() -> str:
    return f"{shlex.quote(sys.executable)} -m ivr.cli cron"


def worker_command() -> str:
    return f"{shlex.quote(sys.executable)} -m ivr.cli worker"


def run_hotline(port: int, workers: int) -> int:
    settings = load_settings()
    embedded = None if settings.redis_url else EmbeddedRedis(settings.data_dir)
    env = dict(os.environ, IVR_DATA_DIR=str(settings.data_dir))
    if embedded:
        env["REDIS_URL"] = embedded.url
    upgrade(settings.database_url)
    with registry_session(settings.database_url) as session:
        demo = load_demo_estate_if_empty(session)
    _introduce(settings, port, embedded, demo)
    manager = Manager()
    manager.add_process("web", web_command(port, workers), env=env)
    manager.add_process("worker", worker_command(), env=env)
    manager.add_process("cron", cron_command(), env=env)
    try:
        manager.loop()
    finally:
        if embedded:
            embedded.stop()
    return int(manager.returncode or 0)


def _introduce(
    settings: Settings, port: int, embedded: EmbeddedRedis | None, demo: ImportReport | None
) -> None:
    redis = f"embedded ({embedded.url})" if embedded else settings.redis_url
    click.echo(
        "\n".join(
            [
                f"{settings.hotline_name} hotline on http://127.0.0.1:{port}",
                f"  database  {settings.database_url}",
                f"  redis     {redis}",
                f"  hours     {settings.business_hours} {settings.timezone.key}",
                *_demo_lines(demo),
                f"  try it    ivr call --url http://127.0.0.1:{port}",
                f"  call log  curl -H 'Authorization: Bearer {settings.api_token}' "
                f"http://127.0.0.1:{port}/api/calls",
                "",
            ]
        )
    )


def _demo_lines(demo: ImportReport | None) -> list[str]:
    """Said only when this start loaded the demo estate into an empty registry."""
    if demo is None:
        return []
    return [
        f"  residents registry was empty: demo estate loaded ({demo.residents_created}"
        f" residents, {demo.units_created} units); add yours: ivr residents import FILE.csv"
    ]
