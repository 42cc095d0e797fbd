"""The supervisor console (主管控制台) at /console/: the blueprint, its home page and the
navigation every console page shows. Each part of the console is its own module that adds
its routes to `console` and its entry to the navigation with `add_to_navigation`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Blueprint, request, url_for

from ivr.models import StaffRole
from ivr.store.filters import Cursor, optional_cursor
from ivr.web.access import CONSOLE_ROLES, current_staff

console = Blueprint("console", __name__, url_prefix="/console")
PAGE_ARGS = ("older", "newer")  # where a page starts; everything else in the URL is a filter


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: str
    label_en: str
    roles: frozenset[StaffRole]
    count: Callable[[], int] | None = None  # a number to show beside the link, read when shown

    @property
    def element_id(self) -> str:
        """A stable id for browser tests: nav-calls for console.call_log, and so on."""
        return "nav-" + self.endpoint.rsplit(".", 1)[-1].replace("_", "-")


NAVIGATION: list[NavEntry] = []


def add_to_navigation(
    endpoint: str,
    label: str,
    label_en: str,
    roles: Iterable[StaffRole] = CONSOLE_ROLES,
    count: Callable[[], int] | None = None,
) -> None:
    """Show a console page in the navigation, to the roles that may open it."""
    if all(entry.endpoint != endpoint for entry in NAVIGATION):
        NAVIGATION.append(NavEntry(endpoint, label, label_en, frozenset(roles), count))


@console.context_processor
def console_navigation() -> dict[str, Any]:
    staff = current_staff()
    shown = [entry for entry in NAVIGATION if staff is not None and staff.role in entry.roles]
    return {"console_navigation": shown}


# --- the lists' pages -----------------------------------------------------------------------


def page_asked() -> tuple[Cursor | None, Cursor | None]:
    """Where the page asked for starts: after the `older` cursor, or before the `newer` one;
    a FilterError for a cursor the console did not write."""
    older, newer = (optional_cursor(request.args, name) for name in PAGE_ARGS)
    return older, newer


def filter_args() -> dict[str, Any]:
    """The filters in this request, for links to other pages of the same list."""
    return {name: value for name, value in request.args.items() if value and name not in PAGE_ARGS}


class Paged(Protocol):
    """A page of a list: the cursors of the pages either side of it, if there are any."""

    @property
    def newer(self) -> str | None: ...

    @property
    def older(self) -> str | None: ...


def page_links(endpoint: str, page: Paged | None) -> dict[str, str | None]:
    """Links to the newer and older pages and the first one, keeping the filters."""
    kept = filter_args()
    paged = any(request.args.get(name) for name in PAGE_ARGS)
    newer, older = (page.newer, page.older) if page else (None, None)
    return {
        "newer_url": url_for(endpoint, **kept, newer=newer) if newer else None,
        "older_url": url_for(endpoint, **kept, older=older) if older else None,
        "newest_url": url_for(endpoint, **kept) if paged else None,
    }


# The overview page itself is ivr/console/overview.py: it reads the other pages' queries.
add_to_navigation("console.home", "概览", "Overview")
