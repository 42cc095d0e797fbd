"""Emergencies reach the on-duty engineer, briefed (R5, issue 11 items 2 and 4).

Gas and fire: the caller is told to leave and the call ends; a worker rings the on-call
ladder one rung at a time (an alert call: the unit, the kind, the resident's number, the
order number, 1 to take it) and texts each engineer rung the same facts. Leak, power and
lift: the caller is put through with <Dial>, the engineer's leg hears the briefing first and
presses 1; no press skips that rung. With nobody on call the caller hears so, honestly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.models import Callback, CallbackKind, CallbackStatus, CallEventRow, OutboundMessage
from ivr.services import services
from tests.call_walk import Walk
from tests.outbound_calls import Office
from tests.records import stored
from tests.twilio_fake import TwilioFake, call_params

ENGINEER, DEPUTY = "+8613900000001", "+8613900000002"
RECEPTION, SUPERVISOR, DIRECTOR = "+8613900000011", "+8613900000012", "+8613900000013"
RESIDENT = "+8613800138000"
EVACUATE = "请立即离开现场，不要开关任何电器，不要使用明火，到安全的地方后马上拨打119。"
ORDER = "已为您登记紧急报修，单号是1 1 2 3 0 0 1。"
ALERTED = (
    "我们已经通知值班工程师，工程师会尽快给您回电。请您现在就挂机，离开建筑物，"
    "到安全的地方拨打119。注意安全，再见！"
)
NOBODY = (
    "现在没有值班工程师可以接听电话，我们已将您的报修列为最高优先级，客服人员会尽快给您回电。"
    "请您现在就挂机，离开建筑物，到安全的地方拨打119。注意安全，再见！"
)


def briefing(kind: str) -> str:
    return (
        f"您好，这里是幸福家园物业客服中心的紧急报修：住址未登记，{kind}，"
        "住户电话1 3 8 0 0 1 3 8 0 0 0，报修单号1 1 2 3 0 0 1。"
    )


def engineer_sms(kind: str) -> str:
    return (
        f"【幸福家园物业】紧急报修1123001：住址未登记，{kind}，住户电话{RESIDENT}。"
        "请立即处理并回电住户。"
    )


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(
        oncall_ladder=(ENGINEER, DEPUTY), escalation_contacts=(RECEPTION, SUPERVISOR, DIRECTOR)
    )


def texts(app: Flask) -> list[tuple[str, str, str]]:
    return [(m.to_number, m.purpose, m.body) for m in stored(app, OutboundMessage)]


def alerts(app: Flask) -> list[tuple[str, CallbackStatus]]:
    return [(c.phone, c.status) for c in stored(app, Callback, kind=CallbackKind.ALERT)]


def events(app: Flask, sid: str, *kinds: str) -> list[dict[str, Any]]:
    query = select(CallEventRow).where(CallEventRow.call_sid == sid).order_by(CallEventRow.id)
    with app.app_context(), services().db.reader() as session:
        return [
            dict(row.detail, kind=row.kind) for row in session.scalars(query) if row.kind in kinds
        ]


def gas_call(office: Office, sid: str = "CA700") -> Walk:
    return Walk(office.twilio, sid).start().press("1").press("1").press("4")


def test_a_gas_caller_is_told_what_happens_next_and_never_held(office: Office) -> None:
    walk = gas_call(office)
    assert walk.last_heard == [EVACUATE, ORDER, ALERTED]
    assert walk.tags == ["Say", "Say", "Say", "Hangup"]
    office.run_jobs()
    assert office.rung() == [ENGINEER]
    assert office.placed()[0]["Url"].startswith(f"{office.twilio.base_url}/voice/callback/alert?")
    assert [t for t in texts(office.app) if t[0] == ENGINEER] == [
        (ENGINEER, "engineer_alert", engineer_sms("燃气泄漏"))
    ]


def test_the_alerted_engineer_hears_the_briefing_and_presses_1(office: Office) -> None:
    gas_call(office)
    office.run_jobs()
    call = office.last_call()
    verbs = call.answer()
    [keys] = [v for v in verbs if v.tag == "Gather"]
    assert [v.text for v in keys.children] == [briefing("燃气泄漏"), "接单并尽快回电住户请按1。"]
    assert keys.attrs["action"].startswith("/voice/callback/alert/answer?")
    assert [v.text for v in call.press("1")] == [
        "谢谢，已为您接单。请尽快回电住户并到场处理，再见。",
        "",
    ]
    office.run_jobs()
    call.ends()
    office.run_jobs()
    assert alerts(office.app) == [(ENGINEER, CallbackStatus.DONE)]
    assert office.rung() == [ENGINEER]  # nobody else is rung
    [answer] = events(office.app, call.sid, "engineer_answer")
    assert (answer["answer"], answer["phone"], answer["t"]) == ("accepted", ENGINEER, "1123001")


@pytest.mark.parametrize("how", ["no answer", "no key", "hangs up"])
def test_an_engineer_who_does_not_take_it_passes_it_to_the_next_rung(
    office: Office, how: str
) -> None:
    gas_call(office)
    office.run_jobs()
    call = office.last_call()
    if how == "no answer":
        call.ends("no-answer", duration="0")
    elif how == "no key":
        call.answer()
        call.press()
        assert [v.text for v in call.press()] == ["好的，系统会通知下一位值班工程师，再见。", ""]
    else:
        call.answer()
        call.ends()
    office.run_jobs()
    call.ends()  # its end reported (again): still one more rung, not two
    office.run_jobs()
    assert office.rung() == [ENGINEER, DEPUTY]
    assert alerts(office.app) == [
        (ENGINEER, CallbackStatus.UNREACHABLE),
        (DEPUTY, CallbackStatus.PENDING),
    ]
    assert [t[0] for t in texts(office.app) if t[1] == "engineer_alert"] == [ENGINEER, DEPUTY]


def test_when_no_rung_takes_it_the_resident_is_called_back_first(office: Office) -> None:
    gas_call(office)
    office.run_jobs()
    office.last_call().ends("busy", duration="0")
    office.run_jobs()
    office.last_call().ends("no-answer", duration="0")
    office.run_jobs()
    assert office.rung() == [ENGINEER, DEPUTY]
    [callback] = stored(office.app, Callback, kind=CallbackKind.RESIDENT)
    assert (callback.phone, callback.important, callback.keeps_place, callback.reason) == (
        RESIDENT,
        True,
        True,
        "emergency 1123001: no on-call engineer took it",
    )
    # No agent may be in (at night): the first two escalation contacts are texted at once.
    unanswered = (
        "【幸福家园物业】紧急报修1123001（住址未登记，燃气泄漏）：值班工程师均未接听。"
        f"请立即安排人员处理，并回电住户{RESIDENT}。"
    )
    told = [(t[0], t[2]) for t in texts(office.app) if t[1] == "emergency_unanswered"]
    assert told == [(RECEPTION, unanswered), (SUPERVISOR, unanswered)]


def test_alerts_ring_out_of_hours_too(office: Office) -> None:
    from datetime import datetime

    from tests.conftest import SHANGHAI

    office.clock.set(datetime(2026, 11, 23, 2, 30, tzinfo=SHANGHAI))
    walk = Walk(office.twilio, "CA701").start().press("1").press("1").press("5")
    assert walk.last_heard == [EVACUATE, ORDER, ALERTED]
    office.run_jobs()
    office.sweep()  # the sweep does not ring the same rung twice
    assert office.rung() == [ENGINEER]
    assert (ENGINEER, "engineer_alert", engineer_sms("火情")) in texts(office.app)


def test_gas_with_nobody_on_call_is_honest_and_still_not_held(
    make_app: Callable[..., Flask], run_jobs: Callable[[], int], twilio_rest: Any
) -> None:
    from tests.conftest import AUTH_TOKEN, BASE_URL

    app = make_app(oncall_ladder=())
    phone = TwilioFake(app.test_client(), BASE_URL, AUTH_TOKEN)
    walk = Walk(phone, "CA702").start().press("1").press("1").press("4")
    heard = walk.last_heard
    assert (heard[0], heard[1][:13], heard[2]) == (EVACUATE, ORDER[:13], NOBODY)
    assert walk.tags[-1] == "Hangup"
    run_jobs()
    assert stored(app, Callback, kind=CallbackKind.ALERT) == []
    [callback] = stored(app, Callback)
    assert (callback.phone, callback.important, callback.reason[-14:]) == (
        RESIDENT,
        True,
        "nobody on call",
    )


# --- leak, power, lift: put through, the engineer briefed on the <Dial> ----------------


def engineer_leg(phone: TwilioFake, walk: Walk, **form: str) -> list[Any]:
    """Twilio fetches the <Number url> when the engineer answers; their leg's own CallSid,
    the resident's call as its parent."""
    [dial] = [v for v in walk.verbs if v.tag == "Dial"]
    [number] = dial.children
    params = call_params("CA" + "9" * 32, RESIDENT, To=number.text, ParentCallSid=walk.sid, **form)
    return phone.twiml(number.attrs["url"], params)


def test_the_engineer_put_through_is_briefed_and_presses_1(office: Office) -> None:
    walk = Walk(office.twilio, "CA710").start().press("1").press("1").press("3")
    [dial] = [v for v in walk.verbs if v.tag == "Dial"]
    [number] = dial.children
    assert (number.tag, number.text, number.attrs["url"][:19]) == (
        "Number",
        ENGINEER,
        "/voice/oncall/brief",
    )
    heard = engineer_leg(office.twilio, walk)
    assert [v.tag for v in heard] == ["Gather", "Say", "Hangup"]
    assert [v.text for v in heard[0].children] == [briefing("电梯困人"), "接听并接通住户请按1。"]
    took = office.twilio.twiml(
        heard[0].attrs["action"],
        call_params("CA" + "9" * 32, RESIDENT, To=ENGINEER, ParentCallSid=walk.sid, Digits="1"),
    )
    assert [(v.tag, v.text) for v in took] == [("Say", "正在为您接通住户。")]  # then the bridge
    walk.post(walk.dial_action, DialCallStatus="completed", DialBridged="true")
    assert walk.tags == ["Say", "Hangup"]
    office.run_jobs()
    briefed = events(office.app, walk.sid, "engineer_briefed", "engineer_answer")
    assert [(e["kind"], e["phone"], e["number"], e.get("answer")) for e in briefed] == [
        ("engineer_briefed", ENGINEER, "1123001", None),
        ("engineer_answer", ENGINEER, "1123001", "accepted"),
    ]
    assert (ENGINEER, "engineer_alert", engineer_sms("电梯困人")) in texts(office.app)
    assert office.rung() == []  # put through: no alert call


def test_an_engineer_who_does_not_press_1_is_skipped_and_every_rung_is_texted(
    office: Office,
) -> None:
    walk = Walk(office.twilio, "CA711").start().press("1").press("1").press("1")
    heard = engineer_leg(office.twilio, walk)
    declined = office.twilio.twiml(
        heard[0].attrs["action"],
        call_params("CA" + "9" * 32, RESIDENT, To=ENGINEER, ParentCallSid=walk.sid),
    )
    assert [v.tag for v in declined] == ["Say", "Hangup"]
    # The whisper hung up on the engineer: Twilio reports the <Dial> completed, not bridged.
    walk.post(walk.dial_action, DialCallStatus="completed", DialBridged="false")
    assert next(v.children[0].text for v in walk.verbs if v.tag == "Dial") == DEPUTY
    walk.dial_result("no-answer")
    assert walk.last_heard == [
        "对不起，现在没能通过电话联系上值班工程师。",
        "正在为您优先转接客服人员，请稍候。",
    ]
    assert next(v.text for v in walk.verbs if v.tag == "Enqueue") == "emergency"
    office.run_jobs()
    # The deputy never answered the <Dial>: they are texted the order all the same.
    engineers = [(t[0], t[2]) for t in texts(office.app) if t[1] == "engineer_alert"]
    assert engineers == [
        (ENGINEER, engineer_sms("爆管或严重漏水")),
        (DEPUTY, engineer_sms("爆管或严重漏水")),
    ]


def test_with_nobody_on_call_a_leak_goes_to_a_person_with_honest_words(
    make_app: Callable[..., Flask],
) -> None:
    from tests.conftest import AUTH_TOKEN, BASE_URL

    app = make_app(oncall_ladder=())
    phone = TwilioFake(app.test_client(), BASE_URL, AUTH_TOKEN)
    walk = Walk(phone, "CA712").start().press("1").press("1").press("2")
    assert walk.last_heard[0] == "请不要触碰裸露的电线，先关掉家里的大功率电器。"
    assert walk.last_heard[2:] == [
        "对不起，现在没有值班工程师可以接听电话。",
        "正在为您优先转接客服人员，请稍候。",
    ]
    assert "值班工程师暂时未能接听" not in "".join(walk.last_heard)
    assert next(v.text for v in walk.verbs if v.tag == "Enqueue") == "emergency"
