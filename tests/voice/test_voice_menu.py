"""The call path: greeting first, the main menu by keypad or speech, retries and hand-offs."""

from __future__ import annotations

from datetime import datetime

import pytest

from ivr.core.clock import FrozenClock
from ivr.flows import default_flow_path, load_flow
from ivr.flows.speech import speech_hints
from tests.conftest import SHANGHAI
from tests.twilio_fake import TwilioFake, Verb

ZH = {"language": "cmn-CN", "voice": "Polly.Zhiyu"}
EN = {"language": "en-US", "voice": "Polly.Joanna"}
GREETING = "您好，幸福家园物业客服中心，很高兴为您服务。"
MENU = "报修请按1，投诉请按2，咨询请按3，人工服务请按0，重听请按星号键。您也可以直接说出您的需要。"
# The offer of English, in its own <Say> with the English voice.
FOR_ENGLISH = "For English, press 9."
MENU_STEP = "/voice/step?node=main_menu&lang=zh-CN&seq={seq}&ni={ni}&nm={nm}"
MESSAGE_OFFER = (
    "很抱歉，暂时无法为您接通人工客服。请在提示音后留下您的姓名、房号、联系电话和需要办理的事项，"
    "按井号键结束，我们会尽快给您回电。"
)
AFTER_HOURS = (
    "您好，客服中心的工作时间是每天07:00-21:00，现在是非工作时间。请在提示音后留下您的姓名、房号、"
    "联系电话和需要办理的事项，按井号键结束，我们会在上班后尽快给您回电。"
)


# The recogniser's hints are the flow's data: the first few keywords of each option.
MENU_HINTS = speech_hints(load_flow(default_flow_path()).node("main_menu"), "zh-CN")


def say(text: str, voice: dict[str, str] = ZH) -> Verb:
    return Verb("Say", dict(voice), text)


def menu(seq: int = 1, ni: int = 0, nm: int = 0) -> list[Verb]:
    action = MENU_STEP.format(seq=seq, ni=ni, nm=nm)
    gather = Verb(
        "Gather",
        {
            "action": action,
            "hints": MENU_HINTS,
            "input": "dtmf speech",
            "language": "cmn-Hans-CN",
            "method": "POST",
            "numDigits": "1",
            "speechTimeout": "auto",
            "timeout": "6",
        },
        children=[say(MENU), say(FOR_ENGLISH, EN)],
    )
    return [gather, Verb("Redirect", {"method": "POST"}, action)]


def enqueue(queue: str, seq: int = 2) -> Verb:
    node = "general_queue" if queue == "general" else f"{queue}_queue"
    return Verb(
        "Enqueue",
        {
            "action": f"/voice/queue/result?node={node}&lang=zh-CN&seq={seq}&ni=0&nm=0",
            "method": "POST",
            "waitUrl": f"/voice/queue/wait?node={node}&lang=zh-CN&seq={seq}&ni=0&nm=0",
            "waitUrlMethod": "POST",
        },
        queue,
    )


def record(node: str, seq: int) -> list[Verb]:
    action = f"/voice/message?node={node}&lang=zh-CN&seq={seq}&ni=0&nm=0"
    attrs = {
        "action": action,
        "finishOnKey": "#",
        "maxLength": "120",
        "method": "POST",
        "playBeep": "true",
        "timeout": "5",
    }
    return [Verb("Record", attrs), Verb("Redirect", {"method": "POST"}, action + "&empty=1")]


def test_the_greeting_is_the_first_thing_a_caller_hears(twilio: TwilioFake) -> None:
    """R1/R2: no leading pause; the greeting, then the main menu in a Gather."""
    assert twilio.answer("CA100") == [say(GREETING), *menu()]


# Where each main-menu key leads: what is said first, and the question asked next.
ROUTES = [
    ("1", "您选择了报修服务。如遇燃气泄漏或火情，请立即离开现场并拨打119。", "repair_menu"),
    ("2", "对不起，给您添麻烦了，我们代表物业公司向您致歉。", "ask_building"),
    ("3", "您选择了咨询服务。", "inquiry_menu"),
]


@pytest.mark.parametrize(("digits", "first_words", "next_question"), ROUTES)
def test_each_key_routes_to_its_service(
    twilio: TwilioFake, digits: str, first_words: str, next_question: str
) -> None:
    twilio.answer("CA101")
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA101", Digits=digits)
    assert verbs[0] == say(first_words)
    assert [v.tag for v in verbs[1:]] == ["Gather", "Redirect"]
    assert verbs[1].attrs["action"].startswith(f"/voice/step?node={next_question}&")


def test_zero_reaches_a_person_in_office_hours(twilio: TwilioFake) -> None:
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA101", Digits="0")
    assert verbs == [say("正在为您转接人工客服，请稍候。"), enqueue("general")]


def test_complaints_open_with_the_apology(twilio: TwilioFake) -> None:
    """R6: the company apologises before anything else is said."""
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA102", Digits="2")
    assert verbs[0].text.startswith("对不起")


@pytest.mark.parametrize(
    ("speech", "route"),
    [
        ("我家厨房漏水了", "repair_menu"),
        ("电梯坏了，快来修", "repair_menu"),
        ("我要投诉保安的态度", "ask_building"),
        ("维修不及时，我要投诉", "ask_building"),
        ("请问物业费怎么交", "inquiry_menu"),
        ("转人工", "general"),
        ("I have a leak in the bathroom", "repair_menu"),
        ("I want to make a complaint", "ask_building"),
        ("Can I talk to a person please", "general"),
        ("一", "repair_menu"),
        ("Two.", "ask_building"),
    ],
)
def test_speech_is_classified_into_the_same_routes(
    twilio: TwilioFake, speech: str, route: str
) -> None:
    verbs = twilio.follow(
        MENU_STEP.format(seq=1, ni=0, nm=0), "CA103", SpeechResult=speech, Confidence="0.87"
    )
    if route == "general":
        assert verbs[-1] == enqueue("general")
    else:
        assert verbs[-1].text.startswith(f"/voice/step?node={route}&")


def test_no_input_and_invalid_input_reprompt_politely_and_are_counted_apart(
    twilio: TwilioFake,
) -> None:
    silent = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA104")
    assert silent == [say("对不起，没有听到您的选择。"), *menu(seq=2, ni=1, nm=0)]
    wrong = twilio.follow(MENU_STEP.format(seq=2, ni=1, nm=0), "CA104", Digits="7")
    assert wrong == [say("对不起，您的输入有误。"), *menu(seq=3, ni=1, nm=1)]
    unmatched = twilio.follow(
        MENU_STEP.format(seq=2, ni=1, nm=0), "CA104", SpeechResult="今天天气不错"
    )
    assert unmatched == [say("对不起，我没有听明白您的需要。"), *menu(seq=3, ni=1, nm=1)]


def test_three_failures_reach_a_person_in_office_hours(twilio: TwilioFake) -> None:
    verbs = twilio.follow(MENU_STEP.format(seq=3, ni=1, nm=1), "CA105")
    assert verbs == [say("正在为您转接人工客服，请稍候。"), enqueue("general", seq=4)]


def test_three_failures_out_of_hours_offer_a_message(
    twilio: TwilioFake, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI))
    verbs = twilio.follow(MENU_STEP.format(seq=3, ni=2, nm=0), "CA106", Digits="8")
    assert verbs == [say(AFTER_HOURS), *record("after_hours_message", seq=4)]


@pytest.mark.parametrize("hour", [6, 21, 23])
def test_out_of_hours_a_person_means_a_message(
    twilio: TwilioFake, clock: FrozenClock, hour: int
) -> None:
    clock.set(datetime(2026, 11, 23, hour, 0, tzinfo=SHANGHAI))
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA107", Digits="0")
    assert verbs == [say(AFTER_HOURS), *record("after_hours_message", seq=2)]


def test_star_repeats_the_menu_without_counting_a_failure(twilio: TwilioFake) -> None:
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=1, nm=0), "CA108", Digits="*")
    assert verbs == menu(seq=2, ni=0, nm=0)


def test_nine_switches_to_english_and_back(twilio: TwilioFake) -> None:
    verbs = twilio.follow(MENU_STEP.format(seq=1, ni=0, nm=0), "CA109", Digits="9")
    assert verbs[0] == say(
        "Welcome to the Happy Home Property customer service centre. You are now in English.", EN
    )
    gather = verbs[1]
    assert gather.attrs["language"] == "en-US"
    assert gather.attrs["action"] == "/voice/step?node=main_menu&lang=en-US&seq=2&ni=0&nm=0"
    assert gather.children[0].text.startswith("For repairs, press 1.")
    assert gather.children[1] == say("中文服务请按9。")  # the offer of Chinese, in Chinese
    back = twilio.follow(gather.attrs["action"], "CA109", Digits="9")
    assert back[0] == say("已为您切换为中文服务。")


def test_leaving_the_queue_unserved_offers_a_message(twilio: TwilioFake) -> None:
    url = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    assert twilio.follow(url, "CA110", QueueResult="leave") == [
        say(MESSAGE_OFFER),
        *record("take_message", 3),
    ]
    assert twilio.follow(url, "CA110", QueueResult="hangup") == []
    assert twilio.follow(url, "CA110", QueueResult="bridged") == [
        say("谢谢您的来电，我们会尽快答复，再见！"),
        Verb("Hangup", {}),
    ]


@pytest.mark.parametrize("result", ["redirected", "redirected-from-bridged"])
def test_a_caller_taken_from_the_queue_by_the_desk_is_not_offered_a_message(
    twilio: TwilioFake, result: str
) -> None:
    """The desk's REST redirect ends the <Enqueue>; the caller is already on the way to an agent."""
    url = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    assert twilio.follow(url, "CA111", QueueResult=result) == []


@pytest.mark.parametrize("result", ["error", "queue-full", "system-shutdown", "bogus"])
def test_a_queue_that_fails_the_caller_still_takes_a_message(
    twilio: TwilioFake, result: str
) -> None:
    url = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    assert twilio.follow(url, "CA112", QueueResult=result) == [
        say(MESSAGE_OFFER),
        *record("take_message", 3),
    ]


def test_a_message_is_thanked_and_the_call_closed(twilio: TwilioFake) -> None:
    url = "/voice/message?node=take_message&lang=zh-CN&seq=3&ni=0&nm=0"
    verbs = twilio.follow(
        url,
        "CA111",
        RecordingUrl="https://api.twilio.com/rec/RE1",
        RecordingSid="RE1",
        RecordingDuration="12",
    )
    assert verbs == [
        say("您的留言已收到，谢谢。"),
        say("谢谢您的来电，我们会尽快给您回电，再见！"),
        Verb("Hangup", {}),
    ]
    empty = twilio.follow(url + "&empty=1", "CA111")
    assert empty == [say("谢谢您的来电，我们会尽快答复，再见！"), Verb("Hangup", {})]


WAIT = "/voice/queue/wait?node=general_queue&lang=zh-CN"
HOLD = say("所有客服人员正在忙，请您稍候，我们会尽快为您接通。")
CHOICE = Verb(
    "Gather",
    {
        "action": "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0",
        "input": "dtmf",
        "language": "cmn-Hans-CN",
        "method": "POST",
        "numDigits": "1",
        "speechTimeout": "auto",
        "timeout": "5",
    },
    children=[say("如需我们稍后按您的排队顺序回电，请按1；留言请按2；继续等待请不要挂机。")],
)


@pytest.mark.parametrize(
    ("waited", "position", "sorry"),
    [
        ("5", "3", False),
        ("29", "1", False),
        ("30", "2", True),
        ("59", "2", True),
        ("60", "2", False),
    ],
)
def test_waiting_callers_hear_their_place_and_an_apology_once(
    twilio: TwilioFake, waited: str, position: str, sorry: bool
) -> None:
    verbs = twilio.follow(WAIT, "CA112", QueueTime=waited, QueuePosition=position)
    ahead, minutes = int(position) - 1, -(-int(position) * 90 // 60)
    expected = [
        *([say("对不起，让您久等了。")] if sorry else []),
        # Never "0 callers ahead": the caller at the front hears they are next.
        say(
            f"您前面还有{ahead}位，预计等待约{minutes}分钟。"
            if ahead
            else f"下一位就是您，预计等待约{minutes}分钟。"
        ),
        HOLD,
        Verb("Pause", {"length": "15"}),
        CHOICE,
    ]
    assert verbs == expected


def test_past_the_longest_wait_the_caller_leaves_for_a_message(twilio: TwilioFake) -> None:
    assert twilio.follow(WAIT, "CA113", QueueTime="120", QueuePosition="4") == [Verb("Leave", {})]
    url = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"
    after = twilio.follow(url, "CA113", QueueResult="leave", QueueTime="121")
    assert after == [say(MESSAGE_OFFER), *record("take_message", 3)]


def test_pressing_2_while_waiting_leaves_the_queue(twilio: TwilioFake) -> None:
    choice = "/voice/queue/choice?node=general_queue&lang=zh-CN&seq=0&ni=0&nm=0"
    assert twilio.follow(choice, "CA114", Digits="2", QueueTime="40") == [Verb("Leave", {})]
    assert twilio.follow(choice, "CA114", Digits="7", QueueTime="40") == []  # back to waiting


def test_healthz_answers_while_the_web_process_is_up(twilio: TwilioFake) -> None:
    response = twilio.client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})
