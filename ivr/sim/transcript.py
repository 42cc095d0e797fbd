"""What the caller hears: the transcript printed at the terminal, and the loudspeaker
(espeak-ng) when there is one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import TextIO

Speaker = Callable[[str, str], None]  # (text, TwiML language) -> spoken aloud


def espeak_voice(language: str) -> str:
    return "cmn" if language.lower().startswith(("zh", "cmn")) else "en-us"


def find_espeak() -> Speaker | None:
    """espeak-ng as a Speaker, or None when it is not installed (then we only print)."""
    program = shutil.which("espeak-ng")
    if program is None:
        return None

    def speak(text: str, language: str) -> None:
        subprocess.run([program, "-v", espeak_voice(language), text], check=False)

    return speak


class Transcript:
    """What the caller hears and does, one line each, printed as it happens."""

    def __init__(self, out: TextIO | None = None, speaker: Speaker | None = None) -> None:
        self.out = out
        self.speaker = speaker
        self.lines: list[str] = []

    def note(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out or sys.stdout, flush=True)

    def hotline_says(self, text: str, language: str, to: str = "") -> None:
        """What the hotline says to the caller, or `to` the other end of a <Dial>."""
        self.note(f"hotline to {to}: {text}" if to else f"hotline: {text}")
        if self.speaker and text:
            self.speaker(text, language)
