"""Repairs by phone (R5): emergencies first, then unit, problem, description, visit slot, order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.app import refresh_directory
from ivr.core.clock import FrozenClock
from ivr.models import OutboundMessage, Ticket, TicketLog, Unit
from ivr.outbound.telephony import RecordingHttpClient
from ivr.services import services
from tests.call_walk import Walk
from tests.conftest import AUTH_TOKEN, BASE_URL, SHANGHAI, with_demo_estate
from tests.records import stored
from tests.twilio_fake import TwilioFake

ENGINEER, DEPUTY = "+8613900000001", "+8613900000002"
SUPERVISORS = ("+8613700000001", "+8613700000002", "+8613700000003")


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The hotline with an on-call ladder and escalation contacts; jobs run in it too."""
    return make_app(oncall_ladder=(ENGINEER, DEPUTY), escalation_contacts=SUPERVISORS)


@pytest.fixture
def hotline(app: Flask) -> Flask:
    return app


@pytest.fixture
def phone(hotline: Flask) -> TwilioFake:
    return TwilioFake(hotline.test_client(), BASE_URL, AUTH_TOKEN)


def tickets(app: Flask) -> list[Ticket]:
    return stored(app, Ticket)


def ticket_log(app: Flask, ticket_id: int) -> list[tuple[str, dict[str, Any]]]:
    return [(row.kind, row.detail) for row in stored(app, TicketLog, ticket_id=ticket_id)]


def sms(app: Flask) -> list[tuple[str, str, str]]:
    return [(row.to_number, row.purpose, row.status.value) for row in stored(app, OutboundMessage)]


def rest(app: Flask) -> RecordingHttpClient:
    with app.app_context():
        transport = services().telephony.http
    assert isinstance(transport, RecordingHttpClient)
    return transport


def ordinary_repair(phone: TwilioFake, sid: str = "CA500") -> Walk:
    walk = Walk(phone, sid).start()
    walk.press("1")  # repairs
    walk.press("2")  # ordinary
    walk.key_unit("3", "502")  # not in the registry: told so and asked once more
    return walk


def test_an_ordinary_repair_from_an_unknown_caller(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone)
    assert walk.last_heard == ["您输入的是3栋502室。确认请按1，重新输入请按2。"]
    walk.press("1")
    assert walk.last_heard[0].startswith("请选择故障类型：水管漏水或堵塞请按1")
    walk.say("厕所下水道堵了")  # the category by speech: water
    assert walk.last_heard == ["请简单说一下故障的情况，说完请稍等。"]
    walk.say("厕所的下水道堵住了，水排不下去")
    assert walk.last_heard == [
        "请选择维修人员上门的时间。",
        "今天上午请按1。",
        "明天上午请按2。",
        "明天下午请按3。",
    ]
    walk.press("3")
    assert walk.last_heard == [
        "您的报修已登记，报修单号是1 1 2 3 0 0 1。我们会安排维修人员在明天下午上门，稍后会发短信给您确认。",
        "请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。",
    ]
    walk.press("1")
    assert walk.last_heard == ["谢谢您的评价。", "谢谢您的来电，我们会按约定安排维修，再见！"]
    assert walk.tags[-1] == "Hangup"
    walk.hang_up()
    run_jobs()

    [ticket] = tickets(hotline)
    assert (ticket.number, ticket.kind, ticket.category, ticket.sla_tier, ticket.priority) == (
        "1123001",
        "repair",
        "water",
        "major",
        "normal",
    )
    assert (ticket.unit_id, ticket.unit_text, ticket.description) == (
        None,
        "3栋502室",
        "厕所的下水道堵住了，水排不下去",
    )
    assert ticket.appointment_slot == "tomorrow_pm"
    assert ticket.on_site_by == datetime(2026, 11, 24, 18, 0, tzinfo=SHANGHAI)
    assert ticket.resolve_by == datetime(2026, 11, 24, 21, 0, tzinfo=SHANGHAI)
    assert ticket.call_sid == "CA500"
    assert sms(hotline) == [("+8613800138000", "confirmation", "sent")]
    [request] = rest(hotline).requests
    assert request.data == {
        "To": "+8613800138000",
        "From": "+8657112345678",
        "Body": "【幸福家园物业】您的报修已受理，单号1123001，维修人员将于11月24日下午13:30–18:00上门。如有疑问请致电+8657112345678。",
    }


def test_a_replayed_ticket_webhook_keeps_its_number_and_makes_one_ticket(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone).press("1").press("1").say("灯不亮")
    slot_question = walk.action
    first = walk.press("2").last_heard
    # Twilio retries the same request: the same number is read, and no second ticket appears.
    replayed = Walk(phone, "CA500")
    replayed.post(slot_question, Digits="2")
    assert replayed.last_heard == first
    run_jobs()
    assert [t.number for t in tickets(hotline)] == ["1123001"]
    assert len(rest(hotline).requests) == 1


def test_silence_at_the_description_falls_back_to_a_recording(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone, "CA501").press("1").press("3")
    walk.silence()
    assert walk.last_heard == ["请在提示音后描述故障情况，说完请按井号键。"]
    assert walk.tags == ["Say", "Record", "Redirect"]
    walk.record(sid="RE" + "7" * 32)
    assert walk.last_heard[0] == "请选择维修人员上门的时间。"
    walk.press("1").press("2")
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.category, ticket.sla_tier, ticket.recording_sid) == (
        "doors",
        "small",
        "RE" + "7" * 32,
    )
    assert ticket.description == ""


ADVICE = {
    "water": "如果可以，请先关闭家里的总水阀，并关掉漏水处附近的电源。",
    "lift": "请告诉被困的人保持冷静，不要强行扒门，按下电梯里的警铃按钮，我们马上安排救援。",
}


@pytest.mark.parametrize(("choice", "category"), [("1", "water"), ("3", "lift")])
def test_emergencies_are_ordered_and_put_through_at_once(
    phone: TwilioFake,
    hotline: Flask,
    run_jobs: Callable[[], int],
    choice: str,
    category: str,
) -> None:
    walk = Walk(phone, "CA502").start().press("1").press("1")
    assert walk.last_heard[0].startswith("水管爆裂或严重漏水请按1")
    walk.press(choice)
    assert walk.last_heard == [
        ADVICE[category],  # what to do while help comes
        "已为您登记紧急报修，单号是1 1 2 3 0 0 1。",
        "现在为您转接值班工程师，请不要挂机。",
    ]
    dial = next(v for v in walk.verbs if v.tag == "Dial")
    assert (dial.children[0].text, dial.attrs["timeout"]) == (ENGINEER, "20")
    walk.post(walk.dial_action, DialCallStatus="completed", DialBridged="true")
    assert walk.tags == ["Say", "Hangup"]
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.priority, ticket.sla_tier, ticket.category) == (
        "emergency",
        "emergency",
        category,
    )
    assert ticket.dispatch_by == datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    assert ticket.on_site_by == datetime(2026, 11, 23, 14, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("choice", "category"), [("4", "gas"), ("5", "fire")])
def test_gas_and_fire_are_ordered_and_the_caller_is_sent_out_not_held(
    phone: TwilioFake,
    hotline: Flask,
    run_jobs: Callable[[], int],
    choice: str,
    category: str,
) -> None:
    walk = Walk(phone, "CA502").start().press("1").press("1").press(choice)
    assert walk.last_heard == [
        "请立即离开现场，不要开关任何电器，不要使用明火，到安全的地方后马上拨打119。",
        "已为您登记紧急报修，单号是1 1 2 3 0 0 1。",
        "我们已经通知值班工程师，工程师会尽快给您回电。请您现在就挂机，离开建筑物，"
        "到安全的地方拨打119。注意安全，再见！",
    ]
    assert walk.tags == ["Say", "Say", "Say", "Hangup"]
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.priority, ticket.sla_tier, ticket.category) == (
        "emergency",
        "emergency",
        category,
    )


def test_the_on_call_ladder_then_the_queue_at_top_priority(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = Walk(phone, "CA503").start().press("1").press("1").press("2")
    walk.dial_result("no-answer")
    assert next(v.children[0].text for v in walk.verbs if v.tag == "Dial") == DEPUTY
    walk.dial_result("busy")
    assert walk.last_heard == [
        "对不起，现在没能通过电话联系上值班工程师。",
        "正在为您优先转接客服人员，请稍候。",
    ]
    assert next(v.text for v in walk.verbs if v.tag == "Enqueue") == "emergency"
    run_jobs()
    [ticket] = tickets(hotline)
    assert ticket.priority == "emergency"


def test_an_emergency_out_of_hours_with_nobody_answering_leaves_an_urgent_message(
    phone: TwilioFake, hotline: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 30, tzinfo=SHANGHAI))
    walk = Walk(phone, "CA504").start().press("1").press("1").press("3")
    walk.dial_result("no-answer").dial_result("failed")
    assert walk.last_heard[0] == "对不起，现在没能通过电话联系上值班工程师。"
    assert walk.last_heard[1].startswith("请在提示音后说明地址和情况")
    walk.record()
    run_jobs()
    from ivr.models import Callback

    with hotline.app_context(), services().db.reader() as session:
        [callback] = session.scalars(select(Callback))
    assert (callback.important, callback.reason) == (True, "emergency: nobody on duty answered")
    # At once and first in line, at any hour: not at the next closing time.
    assert (callback.due_at, callback.next_attempt_at, callback.queue) == (
        clock.now() + timedelta(minutes=5),
        clock.now(),
        "emergency",
    )
    assert [t.priority for t in tickets(hotline)] == ["emergency"]


def test_a_repair_with_no_visit_slot_promises_no_time_it_did_not_agree(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone, "CA510").press("1").press("3").say("门锁坏了")
    walk.silence().silence()  # no visit slot chosen
    assert walk.last_heard[0] == (
        "您的报修已登记，报修单号是1 1 2 3 0 0 1。我们会尽快与您联系，约定维修人员上门的时间，"
        "稍后会发短信给您确认。"
    )
    run_jobs()
    [body] = [m.body for m in stored(hotline, OutboundMessage)]
    assert body == (
        "【幸福家园物业】您的报修已受理，单号1123001。我们会尽快与您联系，约定维修人员上门的时间。"
        "如有疑问请致电+8657112345678。"
    )


def test_small_repairs_are_flagged_before_they_breach(
    phone: TwilioFake, hotline: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone, "CA505").press("1").press("3").say("门锁坏了").press("1")
    run_jobs()
    [ticket] = tickets(hotline)
    assert ticket.resolve_by == datetime(2026, 11, 23, 21, 0, tzinfo=SHANGHAI)
    assert ticket.on_site_by == datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
    from worker.jobs import sweep_deadlines

    clock.set(datetime(2026, 11, 23, 11, 30, tzinfo=SHANGHAI))
    with hotline.app_context():
        assert sweep_deadlines() == 1
        sweep_deadlines()  # idempotent
    run_jobs()
    assert [kind for kind, _ in ticket_log(hotline, ticket.id)] == ["created", "sla_warning"]
    clock.set(datetime(2026, 11, 23, 12, 5, tzinfo=SHANGHAI))
    with hotline.app_context():
        sweep_deadlines()
    assert [kind for kind, _ in ticket_log(hotline, ticket.id)] == [
        "created",
        "sla_warning",
        "sla_breached",
    ]
    assert sms(hotline)[-1] == (SUPERVISORS[1], "sla_warning", "sent")
    assert walk.last_heard[-1] == "请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。"


def test_status_of_open_orders_by_order_number_for_an_unknown_caller(
    phone: TwilioFake, hotline: Flask
) -> None:
    walk = Walk(phone, "CA506").start().press("1").press("3")
    assert walk.last_heard == [
        "查询本机号码登记的工单请按1，按单号查询请按2，人工服务请按0，返回主菜单请按9。"
    ]
    walk.press("1")
    assert walk.last_heard[0] == "没有查询到未完成的工单。"
    walk.press("9")  # back to the main menu: 9, as at every menu
    assert walk.last_heard[0].startswith("报修请按1")


def test_an_english_recording_is_transcribed_onto_the_order(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = Walk(phone, "CA507").start().press("9").press("1").press("2")
    walk.key_unit("3", "502").press("1").press("2").silence()
    record = next(v for v in walk.verbs if v.tag == "Record")
    assert (record.attrs["transcribe"], record.attrs["transcribeCallback"]) == (
        "true",
        "/voice/transcription",
    )
    recording_sid = "RE" + "5" * 32
    walk.record(sid=recording_sid).press("1")
    assert walk.last_heard[0].startswith(
        "Your repair is booked. Your repair order number is 1 1 2 3 0 0 1."
    )
    transcription = {
        "RecordingSid": recording_sid,
        "TranscriptionText": "The socket sparks.",
        "TranscriptionStatus": "completed",
    }
    assert phone.follow("/voice/transcription", "CA507", **transcription) == []
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.locale, ticket.category, ticket.transcription) == (
        "en-US",
        "electric",
        "The socket sparks.",
    )


def test_a_caller_who_records_nothing_still_gets_the_order(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    walk = ordinary_repair(phone, "CA508").press("1").press("6").silence()
    walk.post(walk.redirect)  # the <Record> heard nothing: Twilio falls through to our redirect
    assert walk.last_heard[0] == "请选择维修人员上门的时间。"
    walk.press("1")
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.category, ticket.recording_sid, ticket.description) == ("other", None, "")


def test_a_resolved_order_is_due_a_return_visit_next_day(
    phone: TwilioFake, hotline: Flask, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    from ivr.tickets.lifecycle import resolve_ticket

    ordinary_repair(phone, "CA509").press("1").press("2").say("插座没电").press("1")
    run_jobs()
    done = datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI)
    with hotline.app_context(), services().db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        resolve_ticket(session, ticket, done, by="engineer 7")
        resolve_ticket(session, ticket, done, by="engineer 7")
    [ticket] = tickets(hotline)
    assert (ticket.status, ticket.resolved_at) == ("done", done)
    assert ticket.return_visit_due == datetime(2026, 11, 24, 16, 0, tzinfo=SHANGHAI)
    assert [kind for kind, _ in ticket_log(hotline, ticket.id)] == ["created", "resolved"]


# --- the unit: 单元 optional, "not my unit", read in English -----------------------------

ASK_BUILDING = "请输入您的楼栋号，按井号键结束；也可以直接说出房号，比如3栋2单元501。"
ASK_ENTRANCE = "请输入单元号，按井号键结束；没有单元号请直接按井号键。"
ASK_ROOM = "请输入您的房号，按井号键结束。"
STRANGER = "+8613700000009"  # a number the registry does not know


def unit_id(app: Flask, building: str, entrance: str, room: str) -> int:
    [unit] = stored(app, Unit, building=building, entrance=entrance, room=room)
    return unit.id


@pytest.mark.parametrize("skip", ["#", "silence"])
def test_hash_alone_skips_the_entrance_question(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int], skip: str
) -> None:
    with_demo_estate(hotline)
    walk = Walk(phone, "CA520", caller=STRANGER).start().press("1").press("2")
    assert walk.last_heard == [ASK_BUILDING]
    walk.press("5#")
    assert walk.last_heard == [ASK_ENTRANCE]
    # Twilio posts no keys for # alone and falls through to our redirect, as for silence;
    # a "#" that does arrive is taken the same way. Neither is a failed answer.
    if skip == "#":
        walk.press("#")
    else:
        walk.silence()
    assert walk.last_heard == [ASK_ROOM]
    walk.press("1601#")
    assert walk.last_heard == ["您输入的是5栋1601室。确认请按1，重新输入请按2。"]
    walk.press("1").press("6").say("阳台的灯不亮了").press("1")
    walk.hang_up()
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.unit_id, ticket.unit_text) == (unit_id(hotline, "5", "", "1601"), "5栋1601室")


def test_not_my_unit_forgets_the_caller_id_unit_for_the_rest_of_the_call(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    with_demo_estate(hotline)
    walk = Walk(phone, "CA521").start().press("1").press("2")
    assert walk.last_heard == ["请问您是1栋1单元101室的住户吗？确认请按1，不是请按2。"]
    walk.press("2")  # not my unit: calling about my neighbour's
    assert walk.last_heard == [ASK_BUILDING]
    walk.key_unit("1", "102", entrance="1", known=True)
    assert walk.last_heard == ["您输入的是1栋1单元102室。确认请按1，重新输入请按2。"]
    walk.press("1")
    assert walk.last_heard[0].startswith("请选择故障类型")
    walk.press("9")  # back to the main menu, then a complaint in the same call
    assert walk.last_heard[0].startswith("报修请按1")
    walk.press("2")
    # Not offered the caller ID's unit again: asked for the unit.
    assert walk.last_heard == ["对不起，给您添麻烦了，我们代表物业公司向您致歉。", ASK_BUILDING]
    walk.silence().silence()  # and not given: the complaint goes on
    assert walk.last_heard[-1].startswith("请选择投诉类型")
    walk.press("4").say("楼道里的垃圾好几天没人收了")
    walk.hang_up()
    run_jobs()
    # Filed under the unit typed in this call, never the caller ID's 1栋1单元101室.
    [ticket] = tickets(hotline)
    assert (ticket.kind, ticket.unit_id, ticket.unit_text, ticket.resident_id) == (
        "complaint",
        unit_id(hotline, "1", "1", "102"),
        "1栋1单元102室",
        None,
    )


def test_a_unit_is_read_in_english_to_an_english_caller(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    with_demo_estate(hotline)
    walk = Walk(phone, "CA522").start().press("9").press("1").press("2")
    assert walk.last_heard == [
        "Are you calling about Block 1, Entrance 1, Flat 101? Press 1 for yes, 2 for no."
    ]
    walk.press("2").press("3#").press("2#").press("502#")
    assert walk.last_heard[0] == (
        "Sorry, we could not find Block 3, Entrance 2, Flat 502. Please enter it again."
    )
    walk.press("3#").press("2#").press("502#")
    assert walk.last_heard == [
        "You entered Block 3, Entrance 2, Flat 502. Press 1 to confirm, or 2 to enter it again."
    ]
    walk.press("1").press("2").say("The socket sparks").press("1")
    walk.hang_up()
    run_jobs()
    [ticket] = tickets(hotline)
    assert (ticket.locale, ticket.unit_text) == ("en-US", "3栋2单元502室")  # stored as filed


ASK_NUMBER = "请输入您的单号，以井号键结束。"
AFTER_STATUS = "返回主菜单请按9，人工服务请按0，重听请按星号键；如果没有其他问题，可以直接挂机。"


def test_a_ticket_number_no_ticket_has_is_told_so_and_asked_once_more(
    phone: TwilioFake, hotline: Flask
) -> None:
    walk = Walk(phone, "CA523").start().press("1").press("3").press("2")
    assert walk.last_heard == [ASK_NUMBER]
    walk.press("1203007#")
    assert walk.last_heard == [
        "对不起，没有查询到单号为1 2 0 3 0 0 7的工单，请您核对单号。",
        ASK_NUMBER,
    ]
    assert "node=retype_ticket_number&" in walk.action
    walk.press("1203008#")  # wrong again: told so, and not asked a third time
    assert walk.last_heard == [
        "对不起，没有查询到单号为1 2 0 3 0 0 8的工单，请您核对单号。",
        AFTER_STATUS,
    ]
    assert "node=after_status&" in walk.action


def test_the_status_read_back_gives_the_visit_window_and_names_emergencies(
    phone: TwilioFake, hotline: Flask, run_jobs: Callable[[], int]
) -> None:
    ordinary_repair(phone, "CA524").press("1").press("1").say("水龙头一直滴水").press("3")
    emergency = Walk(phone, "CA525").start().press("1").press("1").press("1")
    emergency.post(emergency.dial_action, DialCallStatus="completed", DialBridged="true")
    run_jobs()
    assert [t.number for t in tickets(hotline)] == ["1123001", "1123002"]
    refresh_directory(hotline)  # as the web process does: the callers' directory, reloaded

    walk = Walk(phone, "CA526").start().press("1").press("3").press("1")  # by caller ID
    assert walk.last_heard == [  # newest first
        "您有2张未完成的工单。",
        "紧急报修单1 1 2 3 0 0 2，已受理，正在安排。",
        "报修单1 1 2 3 0 0 1，已受理，正在安排，上门时间是11月24日下午13:30–18:00。",
        AFTER_STATUS,
    ]
    walk = Walk(phone, "CA527").start().press("1").press("3").press("2").press("1123002#")
    assert walk.last_heard == [
        "您有1张未完成的工单。",
        "紧急报修单1 1 2 3 0 0 2，已受理，正在安排。",
        AFTER_STATUS,
    ]
