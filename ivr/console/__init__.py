"""The supervisor console (主管控制台) at /console/: one module per page.

`home` holds the blueprint and its navigation; each page registers its routes on it, and
its entry in the navigation, when imported here, in the navigation's order.
"""

from ivr.console import board, calls, home, kpis, overview, reports, tickets

# isort: split
# Last in the navigation, after the pages used every day.
from ivr.console import dead_letters

console = home.console

__all__ = [
    "board",
    "calls",
    "console",
    "dead_letters",
    "home",
    "kpis",
    "overview",
    "reports",
    "tickets",
]
