"""What a caller said, made comparable: cleaned, normalised, and read as pinyin syllables.

A recogniser hears sounds, so its slips are homophones: 保修 for 报修, 头诉 for 投诉, 楼水
for 漏水, 停点 for 停电. Reading both the sentence and the flow's words as toneless syllables
makes those slips match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import lazy_pinyin

MAX_SPEECH_CHARS = 500
MAX_DIGITS_CHARS = 64

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CLAUSE_BREAK = re.compile(r"[,.;!?，。；！？、\n]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_HAN_RUNS = re.compile(r"[\u3400-\u9fff]+|[^\u3400-\u9fff]+")


def clean_speech(raw: str) -> str:
    """Drop control and format characters Twilio (or a forger) might send; cap the length."""
    text = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C" or ch == " ")
    return " ".join(text.split())[:MAX_SPEECH_CHARS]


def clean_digits(raw: str) -> str:
    return "".join(ch for ch in raw if ch in "0123456789*#")[:MAX_DIGITS_CHARS]


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, punctuation and spaces removed."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def clauses(text: str) -> list[str]:
    """The sentence cut at its punctuation, each part normalised; English keeps its spaces
    between words (so "no" is not found inside "know")."""
    parts = _CLAUSE_BREAK.split(unicodedata.normalize("NFKC", text).lower())
    return [p for p in (_words(part) for part in parts) if p]


def _words(part: str) -> str:
    return " ".join(w for w in (_NOT_WORD.sub("", w) for w in part.split()) if w)


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


@lru_cache(maxsize=4096)
def syllables(text: str) -> tuple[str, ...]:
    """One item per character: a toneless pinyin syllable for a Chinese one, any other as it
    is, so positions in the syllables are positions in the text."""
    out: list[str] = []
    for run in _HAN_RUNS.findall(text):
        # A run of Chinese is read whole, so a polyphone is read as its neighbours say.
        out += lazy_pinyin(run) if _HAN.match(run) else list(run)
    return tuple(out)
