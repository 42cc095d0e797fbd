"""The supervisor console (主管控制台) at /console/: a placeholder until the next slices."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ivr.web.access import CONSOLE_ROLES, require_role

console = Blueprint("console", __name__, url_prefix="/console")


@console.get("/")
@require_role(*CONSOLE_ROLES)
def home() -> ResponseReturnValue:
    return render_template("console.html")
