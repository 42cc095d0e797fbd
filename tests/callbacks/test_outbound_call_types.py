"""A call the hotline places is a flow file, its prompts and one registration: the webhooks
under /voice/callback/ find it by the paths its flow names, with no code of its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from ivr.callbacks.calls import (
    OUTBOUND_CALLS,
    ChoiceSettles,
    OutboundCall,
    build_outbound_flows,
)
from ivr.callbacks.legs import CallbackLeg
from ivr.core.callback_prompts import TOPICS
from ivr.core.events import EventKind, MemorySink
from ivr.core.prompts import Catalogue, Prompt
from ivr.flows import FlowError, flow_path
from ivr.models import CallbackKind
from tests.conftest import services_of
from tests.outbound_calls import RESIDENT, gather, hang_up, outbound, say
from tests.twilio_fake import TwilioFake

# A reminder the evening before a repair visit: confirm with 1, ask for another time with 2.
REMINDER_FLOW = """
start: remind
words:
  kind_label: "callback.topic.{topic}"
nodes:
  remind:
    type: menu
    intro: [reminder.visit]
    prompts: [reminder.ask]
    path: /voice/callback/reminder/answer
    input: dtmf
    timeout_s: 6
    retries: 2
    exhausted: goodbye
    options:
      "1": goodbye
      "2": another_time
  another_time:
    type: hangup
    prompts: [reminder.another_time]
  goodbye:
    type: hangup
    prompts: [reminder.goodbye]
"""
REMINDER_PROMPTS = {
    "reminder.visit": "您好，这里是{hotline_name}客服中心，维修师傅明天上门处理您的{kind_label}。",
    "reminder.ask": "确认请按1，需要改时间请按2。",
    "reminder.another_time": "好的，客服人员会与您联系另约时间，再见。",
    "reminder.goodbye": "谢谢，再见。",
}


REMINDER = OutboundCall(
    name="reminder",
    kind=CallbackKind.RESIDENT,
    path="/voice/callback/reminder",
    answered_by="resident",
    leg="reminder",
    settles=ChoiceSettles(
        EventKind.CHOICE, "reminded", "answer", {"1": "confirmed", "2": "another time"}, ""
    ),
    choices={"topic": TOPICS},
)
LEG = CallbackLeg(1, 2, CallbackKind.RESIDENT, RESIDENT, "zh-CN", topic="repair")


def _with_reminder_prompts(catalogues: dict[str, Catalogue]) -> dict[str, Catalogue]:
    extra = {key: Prompt(text) for key, text in REMINDER_PROMPTS.items()}
    return {locale: replace(c, prompts={**c.prompts, **extra}) for locale, c in catalogues.items()}


@pytest.fixture
def reminders(app: Flask, tmp_path: Path) -> MemorySink:
    """The hotline with the reminder registered; what its webhooks report is kept."""
    (tmp_path / "reminder.yaml").write_text(REMINDER_FLOW, encoding="utf-8")
    found = services_of(app)
    catalogues = _with_reminder_prompts(dict(found.engine.catalogues))
    found.legs = build_outbound_flows(
        catalogues, found.settings, found.clock, [REMINDER], folder=tmp_path
    )
    sink = found.sink = MemorySink()
    return sink


def test_a_new_call_type_runs_from_its_flow_and_registration(
    twilio: TwilioFake, reminders: MemorySink
) -> None:
    answered = twilio.twiml(f"/voice/callback/reminder?{LEG.query()}", outbound("CA1", RESIDENT))
    assert answered == gather(
        f"/voice/callback/reminder/answer?{LEG.query()}&ni=0&nm=0",
        [
            say("您好，这里是幸福家园物业客服中心，维修师傅明天上门处理您的维修问题。"),
            say("确认请按1，需要改时间请按2。"),
        ],
    )
    answer = f"/voice/callback/reminder/answer?{LEG.query()}&ni=0&nm=0"
    assert twilio.twiml(answer, outbound("CA1", RESIDENT, Digits="2")) == [
        say("好的，客服人员会与您联系另约时间，再见。"),
        hang_up(),
    ]
    reported = [
        (e.kind, e.key, e.detail.get("leg"), e.detail.get("answer")) for e in reminders.events
    ]
    assert reported == [
        (EventKind.CALLBACK_LEG, "CA1:callback:leg:reminder", "reminder", None),
        (EventKind.CHOICE, "CA1:callback:reminded", None, "another time"),
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("/voice/callback/reminder/answer", "/voice/callback/status"), "remind needs a path"),
        (
            ("    path: /voice/callback/reminder/answer\n", ""),
            "remind needs a path of its own under /voice/callback/, not ''",
        ),
        (("/voice/callback/reminder/answer", "/voice/callback/accept"), "/voice/callback/accept"),
    ],
)
def test_a_call_type_whose_paths_collide_does_not_start(
    app: Flask, tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    (tmp_path / "reminder.yaml").write_text(REMINDER_FLOW.replace(*change), encoding="utf-8")
    (tmp_path / "callback.yaml").write_text(
        flow_path("callback").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    found = services_of(app)
    catalogues = _with_reminder_prompts(dict(found.engine.catalogues))
    calls = [OUTBOUND_CALLS[0], REMINDER]
    with pytest.raises(FlowError) as failure:
        build_outbound_flows(catalogues, found.settings, found.clock, calls, folder=tmp_path)
    assert problem in str(failure.value)
