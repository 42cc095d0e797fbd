"""The caller at the phone: a person at the keyboard or a script, and what they answer at
each verb (keys or words at a <Gather>, how long they speak)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

KEYPAD = frozenset("0123456789*#")
SPEECH_CONFIDENCE = "0.9"
CJK_CHARS_PER_S = 4  # rough speaking rates, so CallDuration and RecordingDuration look real
OTHER_CHARS_PER_S = 15

GATHER_HINT = "press a key (0-9 * #), type words to speak, or Enter for silence"
RECORD_HINT = "type your message after the beep, or Enter to leave none"
QUEUE_HINT = (
    "what happens? a = an agent answers (Enter), w = you keep holding (the desk may take"
    " the call), l = you leave the queue, h = you hang up"
)
QUEUE_CHOICE_HINT = QUEUE_HINT + ", 1 = call me back keeping my place, 2 = leave a message"
DIAL_HINT = "does the number answer? a = answered (Enter), n = no answer"

# The caller's choice in a queue, as Twilio reports it in QueueResult.
QUEUE_RESULTS = {"": "bridged", "a": "bridged", "agent": "bridged", "l": "leave", "leave": "leave"}
QUEUE_RESULTS |= {"h": "hangup", "hangup": "hangup"}
# Keys the caller may press during the wait music, when it offers them.
QUEUE_KEYS = {"1": "1", "2": "2"}
KEEP_HOLDING = {"w": "wait", "wait": "wait"}
HOLD_ENDINGS = {"leave": "hotline takes you out of the queue", "hangup": "hotline hangs up"}
QUEUE_NOTES = {
    "bridged": "an agent answers",
    "redirected": "the desk takes your call out of the queue",
    "leave": "you leave the queue",
    "hangup": "you hang up in the queue",
}
DIAL_RESULTS = {"": "completed", "a": "completed", "answered": "completed"}
DIAL_RESULTS |= {"n": "no-answer", "no": "no-answer", "no-answer": "no-answer"}
DIAL_NOTES = {"completed": "the number answers", "no-answer": "nobody answers"}


class CallerInput(Protocol):
    def answer(self, hint: str) -> str | None:
        """What the caller does next; None once they have hung up."""
        ...


class KeyboardCaller:
    """A person at the terminal; end of input or Ctrl-C hangs up."""

    def __init__(self, read_line: Callable[[str], str] = input) -> None:
        self.read_line = read_line

    def answer(self, hint: str) -> str | None:
        try:
            return self.read_line(f"  [{hint}] > ").strip()
        except (EOFError, KeyboardInterrupt):
            return None


class ScriptedCaller:
    """Answers given in advance (`--press '1,,我家漏水了'`); hangs up when they run out."""

    def __init__(self, answers: Iterable[str]) -> None:
        self.remaining = [answer.strip() for answer in answers]

    @classmethod
    def from_text(cls, text: str) -> ScriptedCaller:
        # Only the ASCII comma separates: a spoken sentence may hold a Chinese "，".
        return cls(text.split(","))

    def answer(self, hint: str) -> str | None:
        return self.remaining.pop(0) if self.remaining else None


@dataclass(frozen=True)
class GatherReply:
    """What Twilio would report from a <Gather>: keys, words, or nothing."""

    digits: str = ""
    speech: str = ""
    dropped_keys: str = ""

    @property
    def is_silence(self) -> bool:
        return not (self.digits or self.speech)

    def as_params(self) -> list[tuple[str, str]]:
        if self.digits:
            return [("Digits", self.digits)]
        if self.speech:
            return [("SpeechResult", self.speech), ("Confidence", SPEECH_CONFIDENCE)]
        return []


def read_gather_reply(
    answer: str, num_digits: int | None = None, finish_on_key: str = "#", accepts: str = "dtmf"
) -> GatherReply:
    """Turn a typed answer into keys or speech, with Twilio's rules for this <Gather>."""
    answer = answer.strip()
    keys = "".join(answer.split())
    if keys and set(keys) <= KEYPAD:
        pressed = "dtmf" in accepts  # a <Gather input="speech"> does not hear the keypad
        return _keys_pressed(keys, num_digits, finish_on_key) if pressed else GatherReply()
    heard = answer and "speech" in accepts
    return GatherReply(speech=answer) if heard else GatherReply()


def _keys_pressed(keys: str, num_digits: int | None, finish_on_key: str) -> GatherReply:
    # Twilio stops at the finish key (and does not report it), or after numDigits keys.
    if finish_on_key and finish_on_key in keys:
        keys = keys[: keys.index(finish_on_key)]
    taken = keys[:num_digits] if num_digits else keys
    return GatherReply(digits=taken, dropped_keys=keys[len(taken) :])


def speaking_seconds(text: str) -> int:
    """About how long it takes to say this text aloud (at least a second)."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    return max(1, math.ceil(cjk / CJK_CHARS_PER_S + (len(text) - cjk) / OTHER_CHARS_PER_S))
