"""The return visit (回访, R5/R6): a resolved repair order or complaint gets an automated
survey call, 1 satisfied / 2 average / 3 dissatisfied; dissatisfied reopens the ticket and
takes it up a level. No answer: three tries 15 minutes apart, then unreachable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from flask import Flask
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from ivr.models import (
    AttemptStatus,
    Call,
    Callback,
    CallbackKind,
    CallbackStatus,
    OutboundMessage,
    Ticket,
    TicketLog,
    TicketStatus,
)
from ivr.queues import tickets_queue
from ivr.services import services
from ivr.tickets.lifecycle import resolve_ticket
from tests.call_walk import Walk
from tests.conftest import BASE_URL, SHANGHAI
from tests.outbound_calls import (
    GOODBYE,
    HOTLINE,
    PROGRESS,
    RESIDENT,
    Jobs,
    Office,
    gather,
    hang_up,
    say,
)
from tests.records import stored
from tests.twilio_fake import TwilioFake, Verb

RECEPTION, SUPERVISOR, DEPUTY_GM = "+8613700000001", "+8613700000002", "+8613700000003"
DONE_AT = datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
REPAIR_LEG = (
    "cb=1&at={at}&k=survey&to=%2B8613800138000&lang=zh-CN&prior={prior}&src=survey"
    f"&topic=repair&ul={quote('3栋502室')}&t=1123001"
)
ASK = "请您对处理结果进行评价，满意请按1，一般请按2，不满意请按3。"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(escalation_contacts=(RECEPTION, SUPERVISOR, DEPUTY_GM))


def repair_order(office: Office) -> None:
    """An ordinary repair: 3栋502室, electrics, described, a visit slot."""
    walk = Walk(office.twilio, "CA500").start().press("1").press("2").key_unit("3", "502")
    walk.press("1").press("2").say("插座没电").press("1")
    walk.hang_up()
    office.run_jobs()


def complaint(office: Office) -> None:
    """A noise complaint from 8栋1203室."""
    walk = Walk(office.twilio, "CA600").start().press("2").key_unit("8", "1203").press("1")
    walk.press("4").say("楼上每天晚上十二点以后还在装修，很吵").silence()
    walk.hang_up()
    office.run_jobs()


def resolve(app: Flask, at: datetime = DONE_AT) -> None:
    with app.app_context(), services().db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        resolve_ticket(session, ticket, at, by="engineer 7")


def the_ticket(app: Flask) -> Ticket:
    [ticket] = stored(app, Ticket)
    return ticket


def the_survey(app: Flask) -> Callback:
    [callback] = stored(app, Callback, kind=CallbackKind.SURVEY)
    return callback


def history(app: Flask) -> list[tuple[str, dict[str, object]]]:
    return [(row.kind, row.detail) for row in stored(app, TicketLog)]


def ask(query: str, no_input: int = 0, no_match: int = 0) -> list[Verb]:
    return gather(f"/voice/callback/survey/answer?{query}&ni={no_input}&nm={no_match}", [say(ASK)])


@pytest.fixture
def resolved(office: Office) -> None:
    """A repair order done at 11:00; the clock at 13:00, when its survey may go out."""
    repair_order(office)
    resolve(office.app)
    office.clock.set(DONE_AT + timedelta(hours=2))


def test_a_resolved_ticket_is_owed_one_survey_call(office: Office) -> None:
    repair_order(office)
    resolve(office.app)
    resolve(office.app)  # resolving twice promises one call
    survey = the_survey(office.app)
    assert (
        survey.phone,
        survey.locale,
        survey.queue,
        survey.ticket_id,
        survey.status,
        survey.reason,
    ) == (
        RESIDENT,
        "zh-CN",
        "repair",
        the_ticket(office.app).id,
        CallbackStatus.PENDING,
        "return visit: repair 1123001 resolved",
    )
    # Promised within the return-visit deadline; first tried two hours after the work.
    assert (survey.due_at, survey.next_attempt_at) == (
        DONE_AT + timedelta(hours=24),
        DONE_AT + timedelta(hours=2),
    )


def test_the_survey_rings_the_resident_without_an_agent(office: Office) -> None:
    repair_order(office)
    resolve(office.app)
    office.clock.set(DONE_AT + timedelta(hours=1, minutes=59))
    office.sweep()
    assert office.placed() == []
    office.clock.set(DONE_AT + timedelta(hours=2))
    office.sweep()  # nobody is at the desk: a survey needs nobody
    query = REPAIR_LEG.format(at=1, prior=0)
    assert office.placed() == [
        {
            "To": RESIDENT,
            "From": HOTLINE,
            "Url": f"{BASE_URL}/voice/callback/survey?{query}",
            "Method": "POST",
            "StatusCallback": f"{BASE_URL}/voice/callback/status?{query}",
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": PROGRESS,
        }
    ]
    [attempt] = office.attempts(1)
    assert (attempt.status, attempt.agent_id) == (AttemptStatus.DIALING_RESIDENT, None)


@pytest.mark.parametrize(
    ("rating", "closing", "label"),
    [
        ("1", "谢谢您的评价，祝您生活愉快，再见！", "satisfied"),
        ("2", "谢谢您的评价，祝您生活愉快，再见！", "average"),
        (
            "3",
            "对不起，给您添麻烦了。我们已重新受理您的问题，并交由主管跟进，会尽快与您联系。再见！",
            "dissatisfied",
        ),
    ],
)
def test_the_resident_rates_the_work(
    office: Office, resolved: None, rating: str, closing: str, label: str
) -> None:
    office.sweep()
    call = office.last_call()
    query = REPAIR_LEG.format(at=1, prior=0)
    assert call.answer() == [
        say(
            "您好，这里是幸福家园物业客服中心，这是一通回访电话。"
            "您的报修单1 1 2 3 0 0 1已经处理完成。"
        ),
        *ask(query),
    ]
    assert call.press(rating) == [say(closing), hang_up()]
    call.ends("completed", duration="35")
    office.run_jobs()
    survey = the_survey(office.app)
    assert (survey.status, survey.attempts, survey.outcome) == (
        CallbackStatus.DONE,
        1,
        f"return visit: {label} ({rating})",
    )
    # Satisfied or average: archived; dissatisfied: reopened and escalated.
    assert history(office.app)[-2 if rating != "3" else 2] == (
        "return_visit",
        {"rating": int(rating), "satisfaction": label},
    )
    if rating != "3":
        assert history(office.app)[-1] == ("closed", {"by": "回访", "satisfaction": label})
    [logged] = stored(office.app, Call, call_sid=call.sid)
    assert (logged.direction, logged.satisfaction, logged.category, logged.handler) == (
        "outbound",
        int(rating),
        "repair",
        "ivr",
    )


def test_dissatisfied_reopens_the_repair_and_tells_the_next_level(
    office: Office, resolved: None
) -> None:
    office.sweep()
    call = office.last_call()
    call.answer()
    call.press("3")
    office.run_jobs()
    call.ends("completed")
    office.run_jobs()  # replayed events change nothing more
    ticket = the_ticket(office.app)
    assert (ticket.status, ticket.resolved_at, ticket.return_visit_due) == (
        TicketStatus.OPEN,
        None,
        None,
    )
    assert (ticket.escalation_level, ticket.on_site_by, ticket.resolve_by) == (
        2,
        office.clock.now() + timedelta(hours=4),  # a major repair's tier, counted from now
        office.clock.now() + timedelta(hours=24),
    )
    assert [kind for kind, _ in history(office.app)] == [
        "created",
        "resolved",
        "return_visit",
        "reopened",
        "escalated",
        "notified",
    ]
    logged = dict(history(office.app))
    assert (logged["reopened"], logged["escalated"], logged["notified"]) == (
        {"reason": "回访不满意"},
        {"level": 2, "reason": "回访不满意"},
        {"level": 2, "role": "客服主管"},
    )
    texts = [(m.to_number, m.purpose, m.body) for m in stored(office.app, OutboundMessage)]
    assert texts[-1] == (
        SUPERVISOR,
        "escalation",
        "【幸福家园物业】回访不满意：工单1123001已重新打开并转交客服主管处理，"
        "请在11月24日13:00前跟进并答复住户。",
    )


def test_a_dissatisfied_complaint_keeps_climbing_if_nobody_acts(
    office: Office, run_due_jobs: Jobs
) -> None:
    complaint(office)
    resolve(office.app)
    office.clock.set(DONE_AT + timedelta(hours=2))
    office.sweep()
    call = office.last_call()
    assert call.answer()[0] == say(
        "您好，这里是幸福家园物业客服中心，这是一通回访电话。您的投诉单1 1 2 3 0 0 1已经处理完成。"
    )
    call.press("3")
    office.run_jobs()
    ticket = the_ticket(office.app)
    assert (ticket.status, ticket.escalation_level, ticket.escalation_due) == (
        TicketStatus.OPEN,
        2,
        office.clock.now() + timedelta(hours=4),  # the normal tier's second step
    )
    registry = ScheduledJobRegistry(queue=tickets_queue(office.redis))  # type: ignore[no-untyped-call]
    assert f"escalate-{ticket.id}-202611231700" in registry.get_job_ids()
    office.clock.advance(hours=4)
    run_due_jobs()
    assert the_ticket(office.app).escalation_level == 3
    assert [m.to_number for m in stored(office.app, OutboundMessage)][-2:] == [
        SUPERVISOR,
        DEPUTY_GM,
    ]


def test_odd_answers_are_asked_again_twice_then_thanked(office: Office, resolved: None) -> None:
    office.sweep()
    call = office.last_call()
    call.answer()
    query = REPAIR_LEG.format(at=1, prior=0)
    assert call.press("9") == [say("对不起，您的输入有误。"), *ask(query, no_match=1)]
    assert call.press() == [say("对不起，没有听到您的选择。"), *ask(query, 1, 1)]
    assert call.press("0") == [
        say("谢谢您接听我们的回访电话，如有问题请随时致电客服中心，再见！"),
        hang_up(),
    ]
    call.ends("completed")
    office.run_jobs()
    survey = the_survey(office.app)
    assert (survey.status, survey.outcome) == (CallbackStatus.DONE, "return visit: no rating given")
    assert [kind for kind, _ in history(office.app)] == ["created", "resolved"]
    assert the_ticket(office.app).status == TicketStatus.DONE


def test_an_unanswered_survey_is_tried_three_times_then_unreachable(
    office: Office, resolved: None
) -> None:
    for attempt in (1, 2, 3):
        office.sweep()
        assert len(office.placed()) == attempt
        query = REPAIR_LEG.format(at=attempt, prior=attempt - 1)
        assert office.placed()[-1]["Url"] == f"{BASE_URL}/voice/callback/survey?{query}"
        office.last_call().ends("no-answer", duration="0")
        office.run_jobs()
        office.clock.advance(minutes=14)
        office.sweep()
        assert len(office.placed()) == attempt
        office.clock.advance(minutes=1)
    survey = the_survey(office.app)
    assert (survey.status, survey.attempts, survey.outcome) == (
        CallbackStatus.UNREACHABLE,
        3,
        "resident: no-answer; unreachable",
    )
    assert [a.status for a in office.attempts(survey.id)] == [AttemptStatus.RESIDENT_NO_ANSWER] * 3
    office.sweep()
    assert len(office.placed()) == 3


def test_a_ticket_reopened_before_its_survey_is_not_surveyed(
    office: Office, resolved: None
) -> None:
    with office.app.app_context(), services().db.session() as session:
        session.execute(update(Ticket).values(status=TicketStatus.OPEN, resolved_at=None))
    office.sweep()
    assert office.placed() == []
    survey = the_survey(office.app)
    assert (survey.status, survey.outcome) == (
        CallbackStatus.CANCELLED,
        "cancelled: the ticket is open again",
    )


def test_a_survey_url_we_did_not_write_ends_politely(twilio: TwilioFake) -> None:
    form = {"CallSid": "CA16", "From": HOTLINE, "To": RESIDENT}
    assert twilio.twiml("/voice/callback/survey?cb=1", form) == [say(GOODBYE), hang_up()]
