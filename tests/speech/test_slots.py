"""Values said instead of keyed: a unit, a number read out, a visit time."""

from __future__ import annotations

import pytest

from ivr.flows.speech.slots import UnitSaid, VisitSaid, digits_said, unit_said, visit_said


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("3栋2单元501", UnitSaid("3", "501", "2")),
        ("三号楼五零一", UnitSaid("3", "501")),
        ("我住在十二栋三单元一零二室", UnitSaid("12", "102", "3")),
        ("block 3 flat 501", UnitSaid("3", "501")),
        ("Building 12, unit 2, room 1102", UnitSaid("12", "1102", "2")),
    ],
)
def test_a_unit_said_in_one_sentence(text: str, unit: UnitSaid) -> None:
    assert unit_said(text) == unit


@pytest.mark.parametrize("text", ["不知道", "我家漏水了", "5栋"])
def test_no_unit_where_none_was_said_whole(text: str) -> None:
    assert unit_said(text) is None


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("一二零三零零七", "1203007"),
        ("幺二零三零零七", "1203007"),
        ("my number is one two zero three zero zero seven", "1203007"),
        ("单号是1203007", "1203007"),
        ("不记得了", ""),
    ],
)
def test_a_number_read_out(text: str, digits: str) -> None:
    assert digits_said(text) == digits


@pytest.mark.parametrize(
    ("text", "visit", "fits"),
    [
        ("明天上午", VisitSaid("tomorrow", "am"), "tomorrow_am"),
        ("tomorrow afternoon", VisitSaid("tomorrow", "pm"), "tomorrow_pm"),
        ("下午吧", VisitSaid("", "pm"), "today_pm"),
        ("第二个", VisitSaid(ordinal=2), ""),
    ],
)
def test_a_visit_time_said(text: str, visit: VisitSaid, fits: str) -> None:
    said = visit_said(text)
    assert said == visit
    if fits:
        assert said.fits(fits)
    assert visit_said("随便") is None
