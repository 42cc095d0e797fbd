"""What the engine asks the telephone to do, independent of Twilio.

The flow engine returns these; `ivr.voice.twiml` alone turns them into TwiML.
Action URLs are relative: Twilio resolves them against the URL it just fetched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Say:
    text: str
    voice: str
    language: str


@dataclass(frozen=True)
class Play:
    url: str


@dataclass(frozen=True)
class Pause:
    seconds: int


Speech = Say | Play | Pause


@dataclass(frozen=True)
class Gather:
    action: str
    prompts: tuple[Speech, ...]
    language: str
    timeout_s: int = 5
    hints: str = ""
    num_digits: int = 1
    input: str = "dtmf speech"


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Enqueue:
    queue: str
    wait_url: str
    action: str


@dataclass(frozen=True)
class Record:
    action: str
    max_length_s: int = 120
    timeout_s: int = 5
    finish_on_key: str = "#"
    transcribe_callback: str | None = None  # Twilio transcribes English recordings only


@dataclass(frozen=True)
class Dial:
    number: str
    action: str
    timeout_s: int = 20
    caller_id: str | None = None  # the number the dialled phone sees; Twilio's default if None
    # TwiML the dialled person hears on answering, before the bridge (a whisper: why we call).
    whisper_url: str | None = None


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Leave:
    """Take the caller out of the queue; Twilio then calls the <Enqueue> action."""


Verb = Say | Play | Pause | Gather | Redirect | Enqueue | Record | Dial | Hangup | Leave
