"""The console's dead letters (死信): call-log events that could not be stored, newest
first, with the call, the reason and the event as it arrived. The rest of each call is in
the call log; this is where someone sees what is missing from it, and marks each one
resolved once it has been dealt with (the call completed by hand, or nothing to do), which
the audit log records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from ivr.console.calls import audit, local_time
from ivr.console.home import add_to_navigation, console
from ivr.models import AuditAction, DeadLetter
from ivr.services import services
from ivr.store.filters import Cursor, FilterError, Keyset, optional_cursor
from ivr.web.access import CONSOLE_ROLES, require_role

PAGE_SIZE = 50
BY_TIME: Keyset[DeadLetter] = Keyset(DeadLetter.parked_at, DeadLetter.id)


def unresolved_count() -> int:
    """How many dead letters nobody has dealt with yet: the number beside the link."""
    with services().db.reader() as session:
        waiting = select(func.count()).where(DeadLetter.resolved == false())
        return int(session.scalar(waiting) or 0)


add_to_navigation("console.dead_letters", "死信", "Dead letters", count=unresolved_count)


@dataclass(frozen=True)
class DeadLetterRow:
    id: int
    at: str
    call_sid: str
    source: str
    error_class: str
    error_message: str
    event: str
    resolved: bool


def dead_letter_page(
    session: Session, older: Cursor | None, zone: ZoneInfo
) -> tuple[list[DeadLetterRow], str | None]:
    """One page of dead letters, newest first, and the cursor of the next if there is one."""
    page = BY_TIME.page(session, select(DeadLetter), PAGE_SIZE, older)
    rows = [
        DeadLetterRow(
            d.id,
            local_time(d.parked_at, zone),
            d.call_sid,
            d.source,
            d.error_class,
            d.error_message,
            d.event,
            d.resolved,
        )
        for d in page.rows
    ]
    return rows, page.older


@console.get("/dead-letters")
@require_role(*CONSOLE_ROLES)
def dead_letters() -> ResponseReturnValue:
    zone = services().settings.timezone
    try:
        older = optional_cursor(request.args, "older")
    except FilterError as problem:
        return render_dead_letters([], None, str(problem)), 400
    with services().db.reader() as session:
        rows, next_cursor = dead_letter_page(session, older, zone)
    return render_dead_letters(rows, next_cursor)


@console.post("/dead-letters/<int:letter_id>/resolve")
@require_role(*CONSOLE_ROLES)
def resolve_dead_letter(letter_id: int) -> ResponseReturnValue:
    with services().db.session() as session:
        call_sid = session.scalar(select(DeadLetter.call_sid).where(DeadLetter.id == letter_id))
        if call_sid is None:
            return render_dead_letters([], None, "没有这条死信。 · No such dead letter."), 404
        # Only the first of two supervisors pressing at once changes it, and is audited.
        changed = session.execute(
            update(DeadLetter)
            .where(DeadLetter.id == letter_id, DeadLetter.resolved == false())
            .values(resolved=True)
            .returning(DeadLetter.id)
        ).first()
        if changed is not None:
            audit(
                session,
                AuditAction.RESOLVE_DEAD_LETTER,
                call_sid or None,
                f"dead letter {letter_id}",
            )
    flash(
        f"死信 {letter_id} 已标记为已处理。 · Dead letter {letter_id} marked resolved."
        if changed is not None
        else f"死信 {letter_id} 已经处理过了。 · Dead letter {letter_id} was already resolved."
    )
    return redirect(url_for("console.dead_letters"), code=303)


def render_dead_letters(
    rows: Sequence[DeadLetterRow], next_cursor: str | None, problem: str = ""
) -> str:
    return render_template(
        "console_dead_letters.html",
        rows=rows,
        problem=problem,
        older_url=url_for("console.dead_letters", older=next_cursor) if next_cursor else None,
        newest_url=url_for("console.dead_letters") if request.args.get("older") else None,
    )
