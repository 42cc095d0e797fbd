"""The agent desk (坐席工作台) at /desk/: who waits, with context; taking a caller; the
wrap-up after the call; messages and callbacks. The page polls /desk/live for a fresh
fragment every few seconds, and works as plain pages without JavaScript.

Every button posts a plain form and is answered with a redirect back to the desk
(Post/Redirect/Get), a refusal included: it is flashed as an error, so reloading the
page never submits the form again. Only a wrap-up form with mistakes is shown again
(422), for the agent to correct; a form no page of ours sends is a plain 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ivr.core.labels import label, reason_label
from ivr.desk.board import desk_board
from ivr.desk.messages import Claim, claim_callback, may_call_back
from ivr.desk.take import (
    Agent,
    Refusal,
    TakeRefusedError,
    TakeState,
    current_take,
    forget_take,
    take_caller,
)
from ivr.desk.wrap_up import (
    WrapUpInvalidError,
    WrapUpSubject,
    categories,
    load_subject,
    read_entry,
    save_wrap_up,
)
from ivr.models import Availability, Disposition, TicketKind, User
from ivr.registry.staff import set_availability
from ivr.services import services
from ivr.tickets.lifecycle import hand_on
from ivr.web.access import CONSOLE_ROLES, DESK_ROLES, StaffMember, current_staff, require_role

desk = Blueprint("desk", __name__, url_prefix="/desk")

REFUSALS = {
    Refusal.NOBODY_WAITING: "现在没有等待的来电。 · Nobody is waiting right now.",
    Refusal.NOT_WAITING: "该来电已不在等待队列中。 · That caller is no longer waiting.",
    Refusal.TAKEN: "该来电已由{detail}接起。 · Already taken by {detail}.",
    Refusal.ALREADY_YOURS: "您已接起该来电，请接听电话。 · You took this call: answer your phone.",
    Refusal.NO_PHONE: (
        "您的账号没有登记电话号码，无法为您接通来电，请联系管理员。"
        " · Your profile has no phone number to ring: ask an admin to add one."
    ),
    Refusal.TELEPHONY: (
        "转接失败，来电仍在队列中：{detail} · The call could not be put through;"
        " the caller is still waiting: {detail}"
    ),
    Refusal.UNCONFIRMED: (
        "Twilio 未确认转接；如您的电话响起请接听：{detail}"
        " · Twilio did not confirm the transfer; if your phone rings, answer it: {detail}"
    ),
}
CLAIMS = {
    Claim.CLAIMED: "留言已认领，请尽快回电。 · Message claimed: it is yours to call back.",
    Claim.ALREADY_YOURS: "您已认领该留言。 · You already claimed this message.",
    Claim.TAKEN: "该留言已由{owner}认领。 · Already claimed by {owner}.",
    Claim.GONE: "该留言已处理或不存在。 · That message is no longer waiting for a callback.",
}
NO_REDIS = "暂时无法接听来电，请稍后再试。 · Calls cannot be taken right now; try again shortly."
NOT_YOURS = "请先认领该回电。 · Claim this callback before calling back."
NO_DIALLER = "暂时无法发起回电，请稍后再试。 · Callbacks cannot be placed right now; try again."
NO_SUCH_CALL = "找不到该来电。 · There is no such call."
NOT_YOUR_CALL = (
    "该来电不是由您接听的，无法填写处理结果。"
    " · You did not take this call, so you cannot wrap it up."
)
ERROR = "error"  # the flash category base.html shows as an error
FINISHED_TAKES = {TakeState.MISSED, TakeState.CALLER_GONE}


@desk.context_processor
def desk_helpers() -> dict[str, Any]:
    zone = services().settings.timezone

    def local_time(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%m-%d %H:%M}"

    def clock_text(seconds: int) -> str:
        return f"{seconds // 60}:{seconds % 60:02d}"

    return {
        "label": label,
        "reason_label": reason_label,
        "local_time": local_time,
        "clock_text": clock_text,
    }


def _me() -> StaffMember:
    staff = current_staff()
    assert staff is not None, "require_role lets only signed-in staff through"
    return staff


def _is_supervisor(staff: StaffMember) -> bool:
    return staff.role in CONSOLE_ROLES


def _page(template: str) -> ResponseReturnValue:
    """The desk (or its live fragment) as it is now."""
    staff = _me()
    board = desk_board(services(), staff.id, _is_supervisor(staff))
    if board is None:
        abort(404)
    return render_template(template, board=board, choices=list(Availability))


def _back_to_desk() -> Response:
    return redirect(url_for("desk.home"), code=303)


def _refused(message: str) -> Response:
    """Back to the desk, which shows why the action was refused."""
    flash(message, ERROR)
    return _back_to_desk()


@desk.get("/")
@require_role(*DESK_ROLES)
def home() -> ResponseReturnValue:
    return _page("desk.html")


@desk.get("/live")
@require_role(*DESK_ROLES)
def live() -> ResponseReturnValue:
    """The part of the desk that changes, for the page to swap in without a reload."""
    return _page("desk_live.html")


@desk.post("/availability")
@require_role(*DESK_ROLES)
def availability() -> ResponseReturnValue:
    try:
        chosen = Availability(request.form.get("availability", ""))
    except ValueError:
        abort(400, "availability must be available, busy or away")
    with services().db.session() as session:
        set_availability(session, _me().id, chosen)
    _acknowledge_finished_take(_me().id)
    flash("状态已保存 · Availability saved")
    return redirect(url_for("desk.home"))


def _acknowledge_finished_take(agent_id: int) -> None:
    """Choosing one's availability acknowledges the notice of a missed or abandoned take."""
    found = services()
    try:
        with found.db.reader() as session:
            take = current_take(session, found.redis, agent_id)
        if take is not None and take.state in FINISHED_TAKES:
            forget_take(found.redis, agent_id, take.call_sid)
    except RedisError:
        pass  # the notice stays until Redis answers again; nothing is lost


# --- taking a caller ------------------------------------------------------------------------


@desk.post("/take")
@require_role(*DESK_ROLES)
def take() -> ResponseReturnValue:
    """Ring the agent's phone and put the chosen caller (or the next one) through."""
    found = services()
    agent = _agent(_me().id)
    base_url = found.settings.public_base_url or request.host_url.rstrip("/")
    try:
        take_caller(found, agent, request.form.get("call_sid") or None, base_url)
    except TakeRefusedError as refused:
        message = REFUSALS[refused.reason].format(detail=refused.detail)
        if refused.reason == Refusal.ALREADY_YOURS:  # a double click: the first one worked
            flash(message)
            return _back_to_desk()
        return _refused(message)
    except RedisError:
        return _refused(NO_REDIS)
    flash(f"正在为您接通，请接听您的电话 {agent.phone}。 · Your phone {agent.phone} rings now.")
    return _back_to_desk()


def _agent(user_id: int) -> Agent:
    with services().db.reader() as session:
        user = session.get(User, user_id)
        if user is None:
            abort(404)
        return Agent(user.id, user.display_name, user.phone or "")


# --- wrap-up --------------------------------------------------------------------------------


@desk.get("/calls/<call_sid>/wrap-up")
@require_role(*DESK_ROLES)
def wrap_up_form(call_sid: str) -> ResponseReturnValue:
    with services().db.reader() as session:
        try:
            subject = _subject(session, call_sid)
        except WrapUpRefusedError as refused:
            abort(refused.status)
        return _wrap_up_page(subject, _earlier_values(subject), {})


@desk.post("/calls/<call_sid>/wrap-up")
@require_role(*DESK_ROLES)
def wrap_up(call_sid: str) -> ResponseReturnValue:
    """Save the wrap-up; submitting it again updates it in place."""
    try:
        try:
            invalid = _save_wrap_up(call_sid)
        except IntegrityError:  # a double submit raced this one: the retry finds its rows
            invalid = _save_wrap_up(call_sid)
    except WrapUpRefusedError as refused:
        return _refused(refused.message)
    if invalid is not None:
        return invalid
    flash("处理结果已保存 · Wrap-up saved")
    return _back_to_desk()


def _save_wrap_up(call_sid: str) -> ResponseReturnValue | None:
    """None once saved; otherwise the form again, saying what is wrong."""
    found, staff = services(), _me()
    with found.db.session() as session:
        subject = _subject(session, call_sid)
        try:
            entry = read_entry(request.form, subject.rules)
        except WrapUpInvalidError as invalid:
            return _wrap_up_page(subject, request.form, invalid.problems, 422)
        agent = Agent(staff.id, staff.display_name, "")
        follow = save_wrap_up(session, found, subject.call, subject.person, agent, entry)
        _free_after_wrap_up(session, staff.id)
    hand_on(found.redis, follow)
    forget_take(found.redis, staff.id, call_sid)
    return None


class WrapUpRefusedError(Exception):
    """No wrap-up here: an unknown call (404), or one this agent did not take (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _subject(session: Session, call_sid: str) -> WrapUpSubject:
    """The call to wrap up, if this agent took it (supervisors may wrap up any)."""
    staff = _me()
    subject = load_subject(session, services(), call_sid, staff.id)
    if subject is None:
        raise WrapUpRefusedError(404, NO_SUCH_CALL)
    took = subject.call.agent_id == staff.id or _took_just_now(session, staff.id, call_sid)
    if not (took or subject.earlier or _is_supervisor(staff)):
        raise WrapUpRefusedError(403, NOT_YOUR_CALL)
    return subject


def _took_just_now(session: Session, agent_id: int, call_sid: str) -> bool:
    """Taken from the desk, though the call log may not say so yet."""
    try:
        take = current_take(session, services().redis, agent_id)
    except RedisError:
        return False
    return take is not None and take.call_sid == call_sid


def _free_after_wrap_up(session: Session, agent_id: int) -> None:
    """An agent still busy from the call is free again once it is wrapped up."""
    user = session.get(User, agent_id)
    if user is not None and user.availability == Availability.BUSY:
        user.availability = Availability.AVAILABLE


def _wrap_up_page(
    subject: WrapUpSubject,
    values: Mapping[str, str],
    problems: Mapping[str, str],
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        "desk_wrap_up.html",
        subject=subject,
        dispositions=list(Disposition),
        categories={kind.value: categories(kind) for kind in TicketKind},
        values=values,
        problems=problems,
    ), status


def _earlier_values(subject: WrapUpSubject) -> dict[str, str]:
    earlier = subject.earlier
    if earlier is None:
        return {}
    values = {"disposition": earlier.disposition.value, "notes": earlier.notes}
    if earlier.ticket_id:
        values.update(ticket_action="update", ticket_id=str(earlier.ticket_id))
    return values


# --- messages and callbacks -----------------------------------------------------------------


@desk.post("/callbacks/<int:callback_id>/claim")
@require_role(*DESK_ROLES)
def claim(callback_id: int) -> ResponseReturnValue:
    """Make a message this agent's to call back; a colleague's claim is not taken over."""
    found, staff = services(), _me()
    with found.db.session() as session:
        result = claim_callback(session, callback_id, staff.id, found.clock.now())
    message = CLAIMS[result.claim].format(owner=result.owner_name)
    if result.claim in {Claim.TAKEN, Claim.GONE}:
        return _refused(message)
    flash(message)
    return _back_to_desk()


@desk.post("/callbacks/<int:callback_id>/call-now")
@require_role(*DESK_ROLES)
def call_back_now(callback_id: int) -> ResponseReturnValue:
    """Ask the worker to ring this agent, then the resident, now."""
    found, staff = services(), _me()
    with found.db.reader() as session:
        allowed = may_call_back(session, callback_id, staff.id, _is_supervisor(staff))
    if not allowed:
        return _refused(NOT_YOURS)
    try:
        from ivr.outbound.schedule import enqueue_attempt  # the callback scheduler's entry point

        enqueue_attempt(found.redis, callback_id)
    except (ImportError, RedisError):
        return _refused(NO_DIALLER)
    flash("即将先拨打您的电话，再接通住户。 · Your phone rings first, then the resident's.")
    return _back_to_desk()
