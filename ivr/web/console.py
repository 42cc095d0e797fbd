"""The supervisor console (主管控制台) at /console/: the blueprint, its home page and the
navigation every console page shows. Each part of the console is its own module that adds
its routes to `console` and its entry to the navigation with `add_to_navigation`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ivr.models import StaffRole
from ivr.web.access import CONSOLE_ROLES, current_staff, require_role

console = Blueprint("console", __name__, url_prefix="/console")


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: str
    label_en: str
    roles: frozenset[StaffRole]

    @property
    def element_id(self) -> str:
        """A stable id for browser tests: nav-calls for console.call_log, and so on."""
        return "nav-" + self.endpoint.rsplit(".", 1)[-1].replace("_", "-")


NAVIGATION: list[NavEntry] = []


def add_to_navigation(
    endpoint: str, label: str, label_en: str, roles: Iterable[StaffRole] = CONSOLE_ROLES
) -> None:
    """Show a console page in the navigation, to the roles that may open it."""
    if all(entry.endpoint != endpoint for entry in NAVIGATION):
        NAVIGATION.append(NavEntry(endpoint, label, label_en, frozenset(roles)))


@console.context_processor
def console_navigation() -> dict[str, Any]:
    staff = current_staff()
    shown = [entry for entry in NAVIGATION if staff is not None and staff.role in entry.roles]
    return {"console_navigation": shown}


@console.get("/")
@require_role(*CONSOLE_ROLES)
def home() -> ResponseReturnValue:
    return render_template("console.html")


add_to_navigation("console.home", "概览", "Overview")

# The console's parts register their routes on `console` when imported.
import ivr.web.console_board  # noqa: E402
import ivr.web.console_calls  # noqa: E402
import ivr.web.console_kpis  # noqa: E402
import ivr.web.console_reports  # noqa: E402
import ivr.web.console_tickets  # noqa: E402, F401
