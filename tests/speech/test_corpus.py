"""The labelled sentences: the held-out part is never in the flow's data, and the listener
keeps its measured accuracy on it (bench/speech_bench.py prints the full figures).

The floors are a little under what the held-out part measured when it was written, so a
change that makes the hotline understand residents worse fails here. The held-out part is
the hard long tail (emergencies told by what the caller sees or smells, indirect asks); the
targets for it (main menu 95%, emergencies 95%, yes/no 100%) are above these floors: see
the README's figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows import default_flow_path, load_flow
from ivr.flows.speech import Listener, normalise
from ivr.flows.speech.corpus import Report, judge, load_corpus

HERE = Path(__file__).parent
FLOW = load_flow(default_flow_path())
HELD_OUT = load_corpus(HERE / "held_out.yaml")
TUNING = load_corpus(HERE / "dev.yaml")


@pytest.fixture(scope="module")
def held_out() -> Report:
    return Report.of(judge(FLOW, Listener(FLOW), HELD_OUT), FLOW)


def _flow_phrases() -> set[str]:
    phrases = {normalise(p) for by in FLOW.not_for_us.values() for p in by}
    for node in FLOW.nodes.values():
        for option in node.options.values():
            for said in (option.examples, option.keywords, option.anywhere):
                phrases |= {normalise(p) for by in said.values() for p in by}
    return phrases


def test_there_are_enough_labelled_sentences_in_both_languages() -> None:
    assert len(HELD_OUT) + len(TUNING) >= 600
    for part in (HELD_OUT, TUNING):
        assert {s.locale for s in part} == {"zh-CN", "en-US"}
        assert {s.menu for s in part} >= {"main_menu", "emergency_menu", "confirm_unit"}


def test_no_held_out_sentence_is_in_the_flows_data() -> None:
    phrases = _flow_phrases()
    assert [s.text for s in HELD_OUT if normalise(s.text) in phrases] == []


def test_the_tuning_and_held_out_parts_do_not_share_a_sentence() -> None:
    tuning = {normalise(s.text) for s in TUNING}
    assert [s.text for s in HELD_OUT if normalise(s.text) in tuning] == []


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_main_menu_routing_on_the_held_out_part(held_out: Report, locale: str) -> None:
    tally = held_out.total(locale, "main_menu")
    assert tally.rate(tally.routed) >= 88.0


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_emergencies_are_mostly_reached_in_one_sentence(held_out: Report, locale: str) -> None:
    tally = held_out.total(locale, "emergencies")
    assert tally.rate(tally.right) >= 70.0


def test_a_denial_is_never_heard_as_a_yes(held_out: Report) -> None:
    taken = {k: n for k, n in held_out.confusion.items() if k[1] == "no" and k[2] == "yes"}
    assert taken == {}
    tally = held_out.total(None, "yes/no")
    assert tally.rate(tally.right) >= 90.0
