"""Keywords found in a sentence, minus the ones a negation takes out.

「我不要人工，我要报修」 names 人工 and 报修, but 不要 governs 人工: only 报修 counts. A word
inside a longer word of another option does not count either (漏 inside 煤气泄漏). Chinese
words of two characters or more also match by sound, so a recogniser's homophone still counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ivr.flows.speech.text import clauses, has_han, normalise, syllables

# Words that take out the intent word they govern (up to NEGATION_REACH characters or
# words later in the same clause): 「不是投诉」「别给我转人工」 "I don't want an agent".
NEGATIONS: Mapping[str, tuple[str, ...]] = {
    "zh-CN": (
        "不是",
        "不要",
        "不用",
        "不想",
        "不找",
        "不需要",
        "没有",
        "没想",
        "别",
        "无需",
        "不必",
    ),
    "en-US": ("not", "dont", "do not", "never", "isnt", "without"),
}
NEGATION_REACH = {"zh-CN": 3, "en-US": 3}
# 不 and 没 alone take out only the word right after them: 「不投诉」「没关着人」, but 「不知道怎么
# 报修」 is a repair.
ADJACENT_NEGATIONS: Mapping[str, tuple[str, ...]] = {"zh-CN": ("不", "没"), "en-US": ("no",)}
# A clause about something that happened before is not an emergency now:
# 「上个月停电的事我想投诉」.
PAST: Mapping[str, tuple[str, ...]] = {
    "zh-CN": (
        "上次",
        "上回",
        "上个月",
        "上周",
        "上礼拜",
        "去年",
        "以前",
        "之前",
        "前几天",
        "前些天",
        "前天",
        "昨天",
        "那次",
    ),
    "en-US": ("last month", "last week", "last year", "last time", "before", "previous"),
}
MIN_SOUND_CHARS = 2  # a single syllable matches too much by sound (水 shui, 睡 shui)
_LATIN = re.compile(r"[a-zA-Z]")


@dataclass(frozen=True)
class Hit:
    key: str  # the option the word belongs to
    word: str
    clause: int
    start: int
    end: int
    by_sound: bool = False
    negated: bool = False

    def overlaps(self, other: Hit) -> bool:
        return self.clause == other.clause and other.start < self.end and self.start < other.end

    def beaten_by(self, other: Hit) -> bool:
        """Whether a longer word said at the same place takes this one's letters:
        漏 in 煤气泄漏, 着火 in 打不着火了."""
        return (
            self.clause == other.clause
            and other.start < self.end
            and self.start < other.end
            and (other.end - other.start) > (self.end - self.start)
        )


@dataclass(frozen=True)
class Sentence:
    """A sentence as keyword matching sees it: normalised clauses in one language, and for
    Chinese each clause's syllables, joined so a word's sound is found by one search."""

    locale: str
    parts: tuple[str, ...]
    sounds: tuple[tuple[str, dict[int, int]], ...] = ()

    @classmethod
    def of(cls, text: str, locale: str) -> Sentence:
        # By what was said, not the caller's menu language: English at the Chinese menu
        # is heard as English.
        chinese = has_han(text) or (locale.startswith("zh") and not _LATIN.search(text))
        parts = [p for p in clauses(text) if p]
        if not chinese:
            return cls("en-US", tuple(parts))
        parts = [p for p in (normalise(part) for part in parts) if p]
        return cls("zh-CN", tuple(parts), tuple(_sounds(part) for part in parts))

    @property
    def chinese(self) -> bool:
        return self.locale == "zh-CN"

    def finds(self, word: str) -> Iterable[tuple[int, int, int, bool, bool]]:
        """(clause, start, end, by_sound, a later part negated) for each place the word is
        said. A word written ``电梯+里面`` is its parts said in that order; 「燃气灶打不着，
        没有煤气味」 says 燃气+味 with its 味 negated."""
        pieces = _pieces(word, self.chinese)
        if not all(pieces):
            return
        first = pieces[0]
        sound = _joined(first) if self.chinese and len(first) >= MIN_SOUND_CHARS else ""
        for index, part in enumerate(self.parts):
            # Most words are not said at all: two searches in C tell, before any Python.
            if first not in part and not (sound and sound in self.sounds[index][0]):
                continue
            for start, end, by_sound in self._places(index, first, 0):
                yield from self._rest(index, list(pieces[1:]), start, end, by_sound)

    def _rest(
        self,
        index: int,
        pieces: list[str],
        start: int,
        end: int,
        sound: bool,
        negated: bool = False,
    ) -> Iterator[tuple[int, int, int, bool, bool]]:
        """The later parts of a combined word, in this clause or the ones after it
        (「电梯卡在两层中间，里面有个老人」); a hit across clauses ends with its first."""
        if not pieces:
            yield index, start, end, sound, negated
            return
        later = self._places(index, pieces[0], end)[:1]
        if later:
            later_start, later_end, later_sound = later[0]
            negated = negated or self.negated(index, later_start, since=end)
            yield from self._rest(
                index, pieces[1:], start, later_end, sound or later_sound, negated
            )
            return
        for clause in range(index + 1, len(self.parts)):
            found = self._places(clause, pieces[0], 0)
            if found:
                negated = negated or self.negated(clause, found[0][0])
                yield from self._rest_beyond(clause, pieces[1:], index, start, negated)
                return

    def _rest_beyond(
        self, clause: int, pieces: list[str], index: int, start: int, negated: bool
    ) -> Iterator[tuple[int, int, int, bool, bool]]:
        if all(any(self._places(c, piece, 0) for c in range(clause, len(self.parts)))
               for piece in pieces):  # fmt: skip
            yield index, start, len(self.parts[index]), False, negated

    def _target(self, word: str) -> str:
        return _normal(word, self.chinese)

    def places(self, index: int, target: str, after: int = 0) -> list[tuple[int, int, bool]]:
        """(start, end, by_sound) of a plain word in one clause."""
        return self._places(index, self._target(target), after)

    def _places(self, index: int, target: str, after: int) -> list[tuple[int, int, bool]]:
        part = self.parts[index]
        if not self.chinese:
            return [(m.start(), m.end(), False) for m in _english(target).finditer(part, after)]
        places = []
        start = part.find(target, after)
        while start != -1:
            places.append((start, start + len(target), False))
            start = part.find(target, start + 1)
        wanted = _joined(target) if len(target) >= MIN_SOUND_CHARS else ""
        if wanted:
            joined, at = self.sounds[index]
            found = joined.find(wanted)
            while found != -1:
                begin = at[found]
                heard = part[begin : begin + len(target)]
                # A slip changes a character, not the word: 保修 for 报修 keeps 修, while
                # 猫眼 shares no character with 冒烟 and is no smoke.
                shares = any(a == b for a, b in zip(heard, target, strict=False))
                if begin >= after and shares and all(p[0] != begin for p in places):
                    places.append((begin, begin + len(target), True))
                found = joined.find(wanted, found + 1)
        return sorted(places)

    def negated(self, clause: int, start: int, since: int = 0) -> bool:
        """Whether a negation governs the word starting here (said after `since`)."""
        before = self.parts[clause][since:start]
        reach = NEGATION_REACH[self.locale]
        if self.chinese:
            before = _without_questions(before)
            if before.endswith(ADJACENT_NEGATIONS["zh-CN"]):
                return True
            return any(before[-len(n) - gap :].startswith(n)
                       for n in NEGATIONS["zh-CN"] for gap in range(reach + 1)
                       if len(before) >= len(n) + gap)  # fmt: skip
        if before.split()[-1:] == list(ADJACENT_NEGATIONS["en-US"]):
            return True
        said = " ".join(before.split()[-(reach + 2) :])
        return any(_english(n).search(said) for n in NEGATIONS["en-US"])

    def in_the_past(self, clause: int) -> bool:
        return any(marker in self.parts[clause] for marker in PAST[self.locale])

    def without(self, hits: Sequence[Hit]) -> str:
        """The sentence with the negated words and their negations taken out."""
        parts = list(self.parts)
        for hit in sorted(hits, key=lambda h: -h.start):
            part = parts[hit.clause]
            cut = _negation_start(part, hit.start, self.locale)
            parts[hit.clause] = part[:cut] + " " + part[hit.end :]
        joiner = "，" if self.chinese else ", "
        return joiner.join(" ".join(p.split()) for p in parts if p.strip())


COMBINED = "+"


def _sounds(part: str) -> tuple[str, dict[int, int]]:
    """The clause's syllables as "|bao|xiu|", and where in that string each one starts."""
    joined, at = "|", {}
    for index, syllable in enumerate(syllables(part)):
        at[len(joined) - 1] = index
        joined += f"{syllable}|"
    return joined, at


@lru_cache(maxsize=8192)
def _joined(target: str) -> str:
    """A word's syllables as the clauses hold them; "" for a word that is not Chinese."""
    return "|" + "|".join(syllables(target)) + "|" if has_han(target) else ""


@lru_cache(maxsize=8192)
def _pieces(word: str, chinese: bool) -> tuple[str, ...]:
    return tuple(_normal(piece, chinese) for piece in word.split(COMBINED))


def _normal(word: str, chinese: bool) -> str:
    """A word as the clauses hold it: Chinese without spaces, English words spaced."""
    return normalise(word) if chinese else " ".join(clauses(word))


@lru_cache(maxsize=8192)
def _english(word: str) -> re.Pattern[str]:
    """A whole English word or phrase, also with a plural or possessive s ("my mother's")."""
    return re.compile(rf"(?<![a-z0-9']){re.escape(word)}s?(?![a-z0-9'])")


_QUESTION = re.compile(r"(.)(?:不|没)\1")  # A-not-A: 有没有, 要不要, 是不是 ask, they deny nothing


def _without_questions(text: str) -> str:
    """The text with its A-not-A questions blanked out (same length, so places hold)."""
    return _QUESTION.sub(lambda m: "　" * len(m.group(0)), text)


def _negation_start(part: str, start: int, locale: str) -> int:
    window = part[:start]
    best = start
    for word in NEGATIONS[locale]:
        found = window.rfind(word)
        if found != -1 and start - (found + len(word)) <= NEGATION_REACH[locale] * (
            1 if locale == "zh-CN" else 8
        ):
            best = min(best, found)
    return best


def find_hits(sentence: Sentence, words: Mapping[str, Sequence[str]]) -> list[Hit]:
    """Every keyword said, by option key, with whether a negation governs it; a word that
    shares letters with a longer word of another option is dropped."""
    hits = [
        Hit(key, word, clause, start, end, sound, later or sentence.negated(clause, start))
        for key, option_words in words.items()
        for word in option_words
        for clause, start, end, sound, later in sentence.finds(word)
    ]
    return [h for h in hits if not any(h.beaten_by(o) and o.key != h.key for o in hits)]


def chosen_key(hits: Sequence[Hit], priority: Sequence[str]) -> Hit | None:
    """The option a sentence names: of the words not negated, the one whose option comes
    first in the node's priority."""
    live = [hit for hit in hits if not hit.negated]
    if not live:
        return None
    rank = {key: index for index, key in enumerate(priority)}
    return min(live, key=lambda h: (rank.get(h.key, len(rank)), -(h.end - h.start), h.by_sound))
