"""Speech on the call path: emergencies from any menu, asking back, values said aloud."""

from __future__ import annotations

from flask import Flask

from ivr.flows import default_flow_path, load_flow
from ivr.flows.speech import Listener
from tests.call_walk import Walk
from tests.conftest import with_demo_estate
from tests.twilio_fake import TwilioFake

FLOW = load_flow(default_flow_path())
GAS_ADVICE = "请立即离开现场"


def test_a_gas_leak_said_at_the_main_menu_gets_the_evacuation_advice_at_once(
    twilio: TwilioFake,
) -> None:
    walk = Walk(twilio, "CA800").start().say("我闻到很大的煤气味")
    assert any(GAS_ADVICE in line for line in walk.last_heard)
    assert "Enqueue" not in walk.tags


def test_an_emergency_said_at_a_sub_menu_still_goes_to_the_emergency_path(
    twilio: TwilioFake,
) -> None:
    walk = Walk(twilio, "CA801").start().press("3").say("楼道里着火了，好多烟")
    assert any(GAS_ADVICE in line for line in walk.last_heard)


def test_an_emergency_in_the_past_is_a_complaint_not_an_alarm(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA802").start().say("上个月停电的事我想投诉")
    assert walk.last_heard[0] == "对不起，给您添麻烦了，我们代表物业公司向您致歉。"  # R6


def _half_understood() -> str:
    """A sentence the main menu is fairly, not fully, sure of (found, so the test follows
    the flow's examples as they change)."""
    listener, node = Listener(FLOW), FLOW.node("main_menu")
    candidates = [
        "那个墙角有点发黑",
        "门口那块地毯是谁的",
        "阳台的花盆被风吹歪了",
        "喂，那个厨房水槽下面的管子在往外渗",
        "那个浴缸的下水特别慢，放水要半天",
        "我要找小李，就是你们那个管家",
        "阳台晾衣杆掉下来了",
        "地砖翘起来了，走路会绊脚",
    ]
    unsure = [t for t in candidates if not listener.hear(node, "zh-CN", t).sure]
    assert unsure, "no half-understood sentence left among the candidates"
    return unsure[0]


def test_a_half_understood_sentence_is_asked_back_and_yes_goes_there(twilio: TwilioFake) -> None:
    sentence = _half_understood()
    guess = Listener(FLOW).hear(FLOW.node("main_menu"), "zh-CN", sentence).option
    assert guess is not None
    walk = Walk(twilio, "CA803").start().say(sentence)
    assert walk.last_heard == [
        f"您是要{guess.label['zh-CN']}吗？是请按1或说“是”，不是请按2或说“不是”。"
    ]
    walk.say("是的")
    pressed = Walk(twilio, "CA813").start().press(guess.key)
    assert walk.last_heard == pressed.last_heard


def test_no_to_the_question_back_asks_for_the_need_again(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA804").start().say(_half_understood()).press("2")
    assert walk.last_heard[0] == "好的，请您再说一遍，或者按键选择。"
    assert "node=main_menu" in walk.action


def test_speech_we_cannot_place_is_told_so_and_the_options_follow(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA805").start().say("今天天气怎么样")
    assert walk.last_heard[0] == "对不起，我没有听明白您的需要。"
    assert walk.last_heard[1].startswith("报修请按1")


def test_a_denial_at_the_unit_question_is_never_a_yes(twilio: TwilioFake, app: Flask) -> None:
    with_demo_estate(app)  # the caller lives at 1栋1单元101室
    walk = Walk(twilio, "CA806").start().press("1").press("2")
    assert walk.last_heard == ["请问您是1栋1单元101室的住户吗？确认请按1，不是请按2。"]
    walk.say("不是，这是我儿子家")
    pressed = Walk(twilio, "CA816").start().press("1").press("2").press("2")
    assert walk.last_heard == pressed.last_heard
    assert walk.last_heard[-1].startswith("请输入您的楼栋号")


def test_a_ticket_number_read_out_is_taken_as_its_digits(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA807").start().press("1").press("3").press("2")
    assert "node=ask_ticket_number" in walk.action
    walk.say("一二零三零零七")
    # Taken as its digits and looked up (there is no such order here), not refused as speech.
    assert any("没有查询到单号为1 2 0 3 0 0 7的工单" in line for line in walk.last_heard)


def test_a_unit_said_whole_skips_the_questions_that_would_ask_for_it(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA808", caller="+8613700000001").start().press("1").press("2")
    assert "node=ask_building" in walk.action
    walk.say("三栋二单元五零一")
    # Straight to the registry check (this unit is not in it), no 单元 or room question.
    assert "node=ask_entrance" not in walk.action
    assert "node=ask_room" not in walk.action
    assert any("3栋2单元501室" in line for line in walk.last_heard)


def test_a_repair_described_as_an_emergency_goes_the_emergency_way(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA809", caller="+8613700000001").start().press("1").press("2")
    walk.key_unit("3", "502").press("1").press("1")  # that unit, water
    walk.say("水管爆了，家里到处都是水")
    assert walk.last_heard[0] == "如果可以，请先关闭家里的总水阀，并关掉漏水处附近的电源。"
    assert walk.last_heard[1].startswith("已为您登记紧急报修")


def test_an_emergency_told_instead_of_the_building_goes_the_emergency_way(
    twilio: TwilioFake,
) -> None:
    walk = Walk(twilio, "CA810", caller="+8613700000001").start().press("1").press("2")
    assert "node=ask_building" in walk.action
    walk.say("别问了，家里煤气味特别大")
    assert any(GAS_ADVICE in line for line in walk.last_heard)
    assert walk.tags[-1] == "Hangup"
    assert "Enqueue" not in walk.tags


def test_an_emergency_told_instead_of_a_visit_slot_goes_the_emergency_way(
    twilio: TwilioFake,
) -> None:
    walk = Walk(twilio, "CA811", caller="+8613700000001").start().press("1").press("2")
    walk.key_unit("3", "502").press("1").press("1")  # that unit, water
    walk.say("厨房下水管漏了")  # an ordinary description: the visit slot is asked next
    assert "node=repair_slot" in walk.action
    walk.say("哎呀现在水管爆了，水漫得到处都是")
    assert walk.last_heard[0] == "如果可以，请先关闭家里的总水阀，并关掉漏水处附近的电源。"
    assert walk.last_heard[1].startswith("已为您登记紧急报修")


def test_a_unit_said_at_the_building_question_is_no_emergency(twilio: TwilioFake) -> None:
    walk = Walk(twilio, "CA812", caller="+8613700000001").start().press("1").press("2")
    walk.say("三栋二单元五零一")
    assert not any(GAS_ADVICE in line for line in walk.last_heard)
    assert any("3栋2单元501室" in line for line in walk.last_heard)
