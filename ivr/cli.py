"""The `ivr` command."""

from __future__ import annotations

import multiprocessing
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ivr.config import load_settings

if TYPE_CHECKING:
    from ivr.flows import Flow
    from ivr.models import User


@click.group()
def main() -> None:
    """Property-management hotline: run it, call it, inspect it."""


@main.command()
@click.option(
    "--port",
    default=5000,
    show_default=True,
    envvar="PORT",
    help="HTTP port for Twilio and the API.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="RQ worker processes (the call log, SMS, callbacks and sweeps).",
)
@click.option(
    "--web-workers",
    default=0,
    type=click.IntRange(0, 256),
    help="Web processes under gunicorn (default: 2 x cores + 1).",
)
def run(port: int, workers: int, web_workers: int) -> None:
    """Run the whole hotline under a supervisor: web, workers, scheduler and cron
    (and an embedded Redis if REDIS_URL is unset). A child that dies is restarted."""
    from ivr.runner import run_hotline

    sys.exit(run_hotline(port, web_workers or default_web_workers(), workers))


def default_web_workers() -> int:
    return 2 * multiprocessing.cpu_count() + 1


@main.command()
@click.option("--port", default=5000, show_default=True, envvar="PORT")
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - Twilio must reach it
@click.option("--workers", default=0, help="Worker processes (default: 2 x cores + 1).")
@click.option(
    "--access-log/--no-access-log",
    default=False,
    envvar="IVR_ACCESS_LOG",
    help="Log every request (costs about a fifth of the throughput).",
)
def web(port: int, host: str, workers: int, access_log: bool) -> None:
    """Serve the webhooks and the API with gunicorn (the Procfile's `web`)."""
    count = workers or default_web_workers()
    args = ["gunicorn", "--bind", f"{host}:{port}", "--workers", str(count)]
    if access_log:
        args += ["--access-logfile", "-"]
    # Replace this process, so signals from supervisord or systemd reach gunicorn directly.
    os.execvp(sys.executable, [sys.executable, "-m", *args, "ivr.wsgi:app"])  # noqa: S606


@main.command()
@click.option(
    "--with-scheduler/--no-scheduler",
    default=False,
    help="Also run RQ's scheduler in a child (only where `ivr scheduler` does not run).",
)
def worker(with_scheduler: bool) -> None:
    """Run an RQ worker (the Procfile's `worker`; run as many as the load needs)."""
    become_worker_process("worker", *(["--with-scheduler"] if with_scheduler else []))


@main.command()
def scheduler() -> None:
    """Move due retries and delayed jobs onto their queues (the Procfile's `scheduler`)."""
    become_worker_process("scheduler")


@main.command()
def cron() -> None:
    """Run the periodic jobs' scheduler: deadline sweeps (the Procfile's `cron`)."""
    become_worker_process("cron")


def become_worker_process(*args: str) -> None:
    """Replace this process with `python -m worker ...`: the same PID, so supervisord and
    systemd keep watching it, and nothing of the worker is imported here."""
    os.execv(sys.executable, [sys.executable, "-m", "worker", *args])  # noqa: S606


@main.command()
@click.option(
    "--url", default="http://127.0.0.1:5000", show_default=True, help="The running hotline."
)
@click.option(
    "--from", "caller", default="+8613800138000", show_default=True, help="Caller ID to present."
)
@click.option(
    "--speak", is_flag=True, help="Also speak prompts aloud with espeak-ng, if installed."
)
@click.option(
    "--press",
    default=None,
    help="Answers in turn, comma-separated: keys, words to say, empty for silence,"
    " a/w/l/h in a queue, a/n when the hotline dials a number (e.g. '1,,我家漏水了')."
    " The caller hangs up when they run out.",
)
@click.option(
    "--public-url",
    default=None,
    envvar="PUBLIC_BASE_URL",
    help="The hotline's PUBLIC_BASE_URL, if it has one: requests are signed for it.",
)
@click.option(
    "--answer",
    "answer",
    is_flag=False,
    flag_value="next",
    default=None,
    metavar="[CALLSID]",
    help="Pick up a call the hotline placed without a Twilio account (the oldest one not"
    " answered yet, or CALLSID) instead of phoning it.",
)
@click.option("--to", "callee", default="", help="With --answer: only calls to this number.")
@click.option(
    "--decline", is_flag=True, help="With --answer: let it ring out (Twilio reports no-answer)."
)
def call(
    url: str,
    caller: str,
    speak: bool,
    press: str | None,
    public_url: str | None,
    answer: str | None,
    callee: str,
    decline: bool,
) -> None:
    """Phone the running hotline from this terminal, as Twilio would, or answer its call."""
    from ivr.sim.terminal import answer_from_terminal, call_from_terminal

    if answer is None and (callee or decline):
        raise click.UsageError("--to and --decline go with --answer")
    if answer is None:
        summary = call_from_terminal(
            url, caller, speak=speak, scripted=press, public_url=public_url
        )
    else:
        sid = "" if answer == "next" else answer
        summary = answer_from_terminal(
            url, sid, callee, decline, speak=speak, scripted=press, public_url=public_url
        )
    if summary.problem:
        sys.exit(1)


@main.command()
@click.option("--mermaid", is_flag=True, help="Print the call flow as a Mermaid diagram.")
@click.option("--locale", default=None, help="Locale for prompt text in the diagram.")
@click.option(
    "--flow",
    "name",
    default="main",
    help="Which flow to draw: main (the inbound call), or a call we place (callback, survey).",
)
@click.option(
    "--explain",
    "sentence",
    default=None,
    help='Show how a menu hears a sentence: ivr flows --explain "家里水管爆了".',
)
@click.option("--menu", default="main_menu", help="The menu --explain hears the sentence at.")
def flows(mermaid: bool, locale: str | None, name: str, sentence: str | None, menu: str) -> None:
    """Check the call flows and prompts; optionally draw one, or explain what a menu hears."""
    from ivr.callbacks.calls import OUTBOUND_CALLS, check_outbound_flow
    from ivr.core.prompts import load_catalogues
    from ivr.flows import flow_path, load_flow, validate_flow
    from ivr.flows.mermaid import flow_to_mermaid

    known = ["main", *(call.name for call in OUTBOUND_CALLS)]
    if name not in known:
        raise click.BadParameter(f"one of {', '.join(known)}", param_hint="--flow")
    settings = load_settings()
    catalogues = load_catalogues(settings.prompts_dir)
    for call in OUTBOUND_CALLS:  # the calls we place must hold too
        check_outbound_flow(call, catalogues)
    validate_flow(load_flow(flow_path("main")), catalogues)
    flow = load_flow(flow_path(name))
    if sentence is not None:
        _explain(flow, menu, locale or settings.default_locale, sentence)
    elif mermaid:
        click.echo(flow_to_mermaid(flow, catalogues, locale or settings.default_locale), nl=False)
    else:
        click.echo(
            f"flow {flow.name}: {len(flow.nodes)} nodes, locales {', '.join(catalogues)}: OK"
        )


def _explain(flow: Flow, menu: str, locale: str, sentence: str) -> None:
    from ivr.flows.speech import Listener
    from ivr.flows.speech.explain import explanation

    node = flow.nodes.get(menu)
    if node is None or node.type != "menu":
        menus = ", ".join(n.name for n in flow.nodes.values() if n.type == "menu")
        raise click.BadParameter(f"one of {menus}", param_hint="--menu")
    click.echo("\n".join(explanation(Listener(flow), node, locale, sentence)))


@main.group()
def db() -> None:
    """Database migrations."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the latest schema."""
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    click.echo(f"database at the latest schema: {settings.database_url}")


def _valid_month(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """YYYY-MM, checked before anything is opened or written."""
    from ivr.reporting.periods import Period

    try:
        Period.parse_month(value, UTC)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a month like 2026-11") from exc
    return value


@main.command()
@click.option("--month", required=True, callback=_valid_month, help="The month, e.g. 2026-11.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into (default: <IVR_DATA_DIR>/reports/YYYY-MM).",
)
@click.option("--pdf/--no-pdf", default=True, help="Also print a PDF, if Chromium is installed.")
def report(month: str, out_dir: Path | None, pdf: bool) -> None:
    """Write the month's report: report.html, calls.csv and report.pdf."""
    from ivr.core.clock import SystemClock
    from ivr.reporting.monthly import build_report, reports_dir
    from ivr.store.db import Database
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        target = out_dir or reports_dir(settings) / month
        files = build_report(db, month, target, settings, SystemClock(), pdf=pdf)
    finally:
        db.dispose()
    for path in (files.html, files.csv, files.pdf):
        if path is not None:
            click.echo(f"wrote {path}")
    for note in files.notes:
        click.echo(note)


@main.group()
def spool() -> None:
    """Call-log events kept on this host while Redis was unreachable."""


@spool.command()
def replay() -> None:
    """Send spooled events to the workers now."""
    from ivr.app import create_app
    from ivr.services import services

    app = create_app({"lease_ticket_numbers": False})
    with app.app_context():
        sink = services().sink
        count = sink.replay_spool() if hasattr(sink, "replay_spool") else 0
    click.echo(f"replayed {count} spooled batches")


@main.group()
def residents() -> None:
    """The residents registry (一户一档) callers are recognised by."""


@residents.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_residents_file(csv_file: Path) -> None:
    """Add or update residents from a CSV file.

    CSV_FILE is UTF-8 with the header building,unit,room,name,phone,language. Every row
    is checked first: one bad row and nothing is imported.
    """
    from ivr.registry.residents import RegistryImportError, import_residents, registry_session
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    try:
        with registry_session(settings.database_url) as session:
            report = import_residents(session, csv_file)
    except RegistryImportError as refused:
        for problem in refused.problems:
            click.echo(problem, err=True)
        click.echo(f"nothing was imported from {csv_file.name}", err=True)
        sys.exit(1)
    click.echo(f"imported {csv_file.name}: {report.summary()}")


@residents.command(name="demo")
def load_demo_residents() -> None:
    """Load the built-in demo estate.

    Its residents include +8613800138000, the caller ID `ivr call` presents.
    """
    from ivr.registry.residents import load_demo_estate, registry_session
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    with registry_session(settings.database_url) as session:
        report = load_demo_estate(session)
    click.echo(f"demo estate loaded: {report.summary()}")


# StaffRole's values, spelled out so `ivr --help` need not import the models (a test keeps
# the two equal).
STAFF_ROLES = ("agent", "supervisor", "admin", "technician")


@main.group()
def users() -> None:
    """Staff accounts for the agent desk and the supervisor console."""


@users.command(name="add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters (asked for when not given).",
)
@click.option("--phone", required=True, help="E.164, e.g. +8613800138000: the desk rings it.")
@click.option("--name", "display_name", default="", help="Name shown on the desk.")
@click.option(
    "--trade",
    "trades",
    multiple=True,
    help="A technician's trade, a repair category (water, electric, doors, fixtures, lift,"
    " public, other): dispatch offers them first for it. Repeat for several.",
)
def add_staff_user(
    username: str, role: str, password: str, phone: str, display_name: str, trades: tuple[str, ...]
) -> None:
    """Add a member of staff who signs in at /login as USERNAME (case-insensitive); a
    technician works dispatched orders from the link in their SMS."""
    from ivr.core.clock import SystemClock
    from ivr.models import StaffRole
    from ivr.registry.residents import registry_session
    from ivr.registry.staff import StaffError, add_user
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    try:
        with registry_session(settings.database_url) as session:
            user = add_user(
                session,
                username,
                role=StaffRole(role),
                password=password,
                phone=phone,
                now=SystemClock().now(),
                display_name=display_name,
                trades=trades,
            )
    except StaffError as refused:
        click.echo(f"user not added: {refused}", err=True)
        sys.exit(1)
    trade = f", trades {' '.join(user.trades)}" if user.trades else ""
    click.echo(f"added {user.role} {user.username} ({user.display_name}, {user.phone}{trade})")


@users.command(name="list")
def list_staff_users() -> None:
    """Show every member of staff: role, availability, phone, lock."""
    from ivr.core.clock import SystemClock
    from ivr.registry.residents import registry_session
    from ivr.registry.staff import list_users
    from ivr.store.db import upgrade as migrate

    settings = load_settings()
    migrate(settings.database_url)
    now = SystemClock().now()
    with registry_session(settings.database_url) as session:
        lines = [_staff_line(user, now) for user in list_users(session)]
    click.echo("\n".join(lines) if lines else "no users yet: add one with `ivr users add`")


def _staff_line(user: User, now: datetime) -> str:
    locked = f"  locked until {user.locked_until:%Y-%m-%d %H:%M} UTC" if user.is_locked(now) else ""
    trades = f"  trades {' '.join(user.trades)}" if user.trades else ""
    return (
        f"{user.username:<16} {user.role:<10} {user.availability:<9} {user.phone:<16}"
        f" {user.display_name}{trades}{locked}"
    )


if __name__ == "__main__":
    main()
