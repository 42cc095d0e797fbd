"""Values a caller says instead of keying them: a unit, a number, a visit time.

Chinese numerals become digits with `cn2an` (「三号楼五零一」 is 3号楼501, 「幺二零三」 1203);
English number words are read one digit each, as people read a number out.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import cn2an

from ivr.core.units import unit_label
from ivr.flows.speech.text import normalise

_EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_ZH_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
_BUILDING = r"(\d{1,3})\s*(?:栋|号楼|幢|座|号|楼)"
_ENTRANCE = r"(\d{1,2})\s*(?:单元|门|号门)"
_ROOM = r"(\d{3,4})\s*(?:室|号|房)?"
_ZH_UNIT = re.compile(rf"{_BUILDING}(?:\s*{_ENTRANCE})?\s*{_ROOM}")
_EN_UNIT = re.compile(
    r"(?:block|building|tower)\s*(\d{1,3})\D*?(?:(?:unit|entrance)\s*(\d{1,2})\D*?)?"
    r"(?:flat|room|apartment|unit|number)?\s*(\d{3,4})"
)


@dataclass(frozen=True)
class UnitSaid:
    building: str
    room: str
    entrance: str = ""

    @property
    def label(self) -> str:
        return unit_label(self.building, self.entrance, self.room)


def arabic(text: str) -> str:
    """Chinese numerals in a sentence as digits; English number words as digits."""
    with contextlib.suppress(ValueError, KeyError, IndexError):  # cn2an refuses odd mixtures
        text = str(cn2an.transform(text, "cn2an"))
    text = text.translate(_ZH_DIGITS)
    words = re.split(r"(\s+|-)", text.lower())
    return "".join(_EN_DIGITS.get(word, word) for word in words)


def unit_said(text: str) -> UnitSaid | None:
    """「3栋2单元501」「三号楼五零一」 "block 3, flat 501"."""
    said = arabic(text)
    compact = re.sub(r"\s+", "", said)
    match = _ZH_UNIT.search(compact)
    if match:
        return UnitSaid(match[1], match[3], match[2] or "")
    match = _EN_UNIT.search(said.lower())
    if match:
        return UnitSaid(match[1], match[3], match[2] or "")
    return None


def digits_said(text: str, longest: int = 12) -> str:
    """A number read out (a ticket number): its digits, or "" when none was said."""
    digits = "".join(ch for ch in arabic(text) if ch.isdigit())
    return digits if 0 < len(digits) <= longest else ""


_DAYS = (
    ("today", ("今天", "今日", "today")),
    ("tomorrow", ("明天", "明日", "tomorrow")),
    ("next", ("后天", "下个工作日", "下周", "周一", "星期一", "monday", "next working day")),
)
_HALVES = (
    ("am", ("上午", "早上", "早晨", "上半天", "morning", "am")),
    ("pm", ("下午", "午后", "下半天", "afternoon", "pm")),
)
_ORDINALS = {"第一": 1, "第二": 2, "第三": 3, "first": 1, "second": 2, "third": 3}


@dataclass(frozen=True)
class VisitSaid:
    day: str = ""  # today | tomorrow | next
    half: str = ""  # am | pm
    ordinal: int = 0  # 「第二个」: the second slot offered

    def fits(self, slot_id: str) -> bool:
        day, _, half = slot_id.partition("_")
        return bool(self.day or self.half) and self.day in {"", day} and self.half in {"", half}


def visit_said(text: str) -> VisitSaid | None:
    """「明天上午」 "tomorrow afternoon" 「第二个」."""
    said = normalise(text) if re.search(r"[\u4e00-\u9fff]", text) else text.lower()
    day = next((name for name, words in _DAYS if any(w in said for w in words)), "")
    half = next((name for name, words in _HALVES if any(w in said for w in words)), "")
    ordinal = next((n for word, n in _ORDINALS.items() if word in said), 0)
    if not (day or half or ordinal):
        return None
    return VisitSaid(day, half, ordinal)
