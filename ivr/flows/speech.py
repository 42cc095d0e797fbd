"""Turning what a caller said (or pressed) into a menu option."""

from __future__ import annotations

import re
import unicodedata

from ivr.flows.definition import Node, Option

MAX_SPEECH_CHARS = 500
MAX_DIGITS_CHARS = 64

# A caller who says the number instead of pressing it.
SPOKEN_KEYS = {
    "1": "1", "一": "1", "幺": "1", "one": "1",
    "2": "2", "二": "2", "两": "2", "two": "2",
    "3": "3", "三": "3", "three": "3",
    "9": "9", "九": "9", "nine": "9",
    "0": "0", "零": "0", "zero": "0",
    "星号": "*", "star": "*",
}  # fmt: skip

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def clean_speech(raw: str) -> str:
    """Drop control and format characters Twilio (or a forger) might send; cap the length."""
    text = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C" or ch == " ")
    return " ".join(text.split())[:MAX_SPEECH_CHARS]


def clean_digits(raw: str) -> str:
    return "".join(ch for ch in raw if ch in "0123456789*#")[:MAX_DIGITS_CHARS]


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, punctuation and spaces removed."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def option_for_speech(node: Node, speech: str) -> Option | None:
    said = normalise(speech)
    if not said:
        return None
    spoken_key = SPOKEN_KEYS.get(said)
    if spoken_key and spoken_key in node.options:
        return node.options[spoken_key]
    for key in node.speech_priority:
        option = node.options[key]
        words = (normalise(w) for locale_words in option.keywords.values() for w in locale_words)
        if any(word and word in said for word in words):
            return option
    return None


def speech_hints(node: Node, locale: str) -> str:
    """Keywords for Twilio's recogniser, in the caller's language."""
    words = [w for key in node.speech_priority for w in node.options[key].keywords.get(locale, ())]
    return ", ".join(words)
