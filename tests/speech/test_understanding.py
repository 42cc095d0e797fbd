"""How the main flow's menus hear speech: negations, homophones, emergencies first, yes/no."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from ivr.flows import default_flow_path, load_flow
from ivr.flows.speech import Listener, speech_hints
from ivr.flows.speech.corpus import heard_name

FLOW = load_flow(default_flow_path())
LISTENER = Listener(FLOW)


def heard(text: str, menu: str = "main_menu", locale: str = "zh-CN") -> str:
    node = FLOW.node(menu)
    return heard_name(node, LISTENER.hear(node, locale, text))


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("我不是投诉，我就想问问物业费", "inquiry"),
        ("我不要人工，我要报修", "repair"),
        ("不用转人工了，我要报修", "repair"),
        ("维修不及时，我要投诉", "complaint"),
        ("别给我转人工", "none"),
    ],
)
def test_a_negation_takes_out_the_words_it_governs(text: str, route: str) -> None:
    assert heard(text) == route


@pytest.mark.parametrize(
    ("text", "route"),
    [("我要保修", "repair"), ("我要头诉", "complaint"), ("家里楼水了", "repair")],
)
def test_a_recognisers_homophone_still_counts(text: str, route: str) -> None:
    assert heard(text) == route


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("水管爆了，家里到处都是水", "leak"),
        ("我闻到很大的煤气味", "gas"),
        ("楼道里着火了", "fire"),
        ("有人被困在电梯里了", "lift"),
        ("整栋楼都停电了", "power"),
        ("There's a strong smell of gas in the kitchen", "gas"),
    ],
)
@pytest.mark.parametrize("menu", ["main_menu", "repair_category", "inquiry_menu"])
def test_an_emergency_is_heard_at_any_menu_in_one_sentence(text: str, kind: str, menu: str) -> None:
    locale = "en-US" if text.isascii() else "zh-CN"
    assert heard(text, menu, locale) == f"emergency.{kind}"


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("热水器打不着火", "repair"),
        ("燃气费怎么交", "inquiry"),
        ("上个月停电的事我想投诉", "complaint"),
    ],
)
def test_words_that_only_look_like_an_emergency_are_not_one(text: str, route: str) -> None:
    assert heard(text) == route


def test_at_the_emergency_menu_a_gas_leak_is_gas_not_water() -> None:
    assert heard("煤气泄漏", "emergency_menu") == "gas"
    assert heard("漏电了", "emergency_menu") == "power"  # 漏电 holds the 漏 of a leak
    assert heard("漏水了", "emergency_menu") == "leak"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("是", "yes"),
        ("是的", "yes"),
        ("没错", "yes"),
        ("对的对的", "yes"),
        ("不是", "no"),
        ("不对", "no"),
        ("不是我家", "no"),
        ("不是，我住5栋", "no"),
        ("我住五号楼二单元", "no"),
        ("是的，就是3栋501", "yes"),
        ("对不起我没听清", "none"),
        ("那必须的", "yes"),
        ("可不咋地", "yes"),  # 不 inside a yes is no denial
        ("唔系", "no"),  # Cantonese
        ("哪有，我是底商那边的", "no"),
    ],
)
def test_yes_and_no_a_denial_is_never_read_as_yes(text: str, answer: str) -> None:
    assert heard(text, "confirm_unit") == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes that's right", "yes"),
        ("no", "no"),
        ("that's not my flat", "no"),
        ("nope", "no"),
        ("that's my mum's place, I'm calling from mine", "no"),
    ],
)
def test_yes_and_no_in_english(text: str, answer: str) -> None:
    assert heard(text, "confirm_unit", "en-US") == answer


def test_a_said_key_is_the_key() -> None:
    assert heard("一") == "repair"
    assert heard("按二") == "complaint"
    assert heard("一，我按一", "confirm_unit") == "yes"  # said, then said again
    assert heard("I press two", "confirm_unit", "en-US") == "no"


def test_speech_that_is_for_no_option_is_not_routed() -> None:
    assert heard("今天天气不错") == "none"


def test_the_recognisers_hints_are_the_first_keywords_of_each_option_by_priority() -> None:
    node = FLOW.node("main_menu")
    hints = speech_hints(node, "zh-CN").split(", ")
    first = node.options[node.speech_priority[0]].keywords["zh-CN"]
    assert hints[: min(len(first), 8)] == list(first[:8])
    assert len(hints) <= 8 * len(node.options)


def test_a_listener_trained_in_the_background_hears_by_keywords_until_it_is_done() -> None:
    flow = load_flow(default_flow_path())
    changed = replace(flow, not_for_us={"zh-CN": ("随便说说",), "en-US": ("just chatting",)})
    listener = Listener(changed, background=True)
    heard_now = listener.hear(changed.node("main_menu"), "zh-CN", "我要报修")
    assert heard_now.via == "keyword"  # keywords need no training
    for thread in threading.enumerate():
        if thread.name == "speech-training":
            thread.join()
    assert listener.trained
