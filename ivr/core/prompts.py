"""Prompt catalogues: `prompts/<locale>.yaml`, dotted keys, `{placeholders}`, optional audio."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from ivr.core.verbs import Play, Say, Speech

# Placeholders a prompt may use; the values come from settings at start-up.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "hotline_name",
        "hotline_number",
        "business_hours",
        # learned during the call
        "unit_label",
        "building",
        "entrance",
        "room",
        "ticket_number",
        "slot",
        "digit",
        "choice",  # the option a caller is asked back about (「您是要{choice}吗？」)
        "count",
        "kind_label",
        "status_label",
        "minutes",
        "phone_tail",  # a resident we know only by number: its last four digits
        "emg_label",  # an emergency order's kind, as the on-call engineer is told it
        "caller_said",  # the caller's number, digit by digit
        # text messages
        "number",
        "when",
        "role",
        "unit",
        "kind",
        "caller",
        # a visit window in a text message: 12月3日上午9:00–12:00
        "month",
        "day",
        "part",
        "start",
        "end",
        "time",  # a deadline's hour and minute: 12月4日14:35
        # a work order, as its technician and resident are texted it
        "category",
        "description",
        "link",
        "technician",
        "note",
    }
)


class PromptError(ValueError):
    """A prompt file is malformed; start-up and CI stop on it."""


@dataclass(frozen=True)
class Voice:
    """How Twilio speaks and listens in one locale."""

    say_voice: str
    say_language: str
    gather_language: str


@dataclass(frozen=True)
class Prompt:
    text: str
    audio: str | None = None
    # Spoken in another locale's voice: the offer of that language (「中文服务请按9」 in the
    # English menu is said by the Mandarin voice).
    voice: str | None = None


@dataclass(frozen=True)
class Catalogue:
    locale: str
    label: str
    voice: Voice
    prompts: Mapping[str, Prompt]

    def render(self, key: str, values: Mapping[str, str]) -> Prompt:
        prompt = self.prompts[key]
        return Prompt(prompt.text.format_map(values), prompt.audio, prompt.voice)

    def speech(
        self, key: str, values: Mapping[str, str], voices: Mapping[str, Voice] | None = None
    ) -> list[Speech]:
        """The prompt as the caller hears it: its recording where it has one (served from
        /media/prompts/ unless it is a full URL), else Twilio's voice for this locale, or
        for the locale the prompt names (`voices`: every locale's)."""
        prompt = self.render(key, values)
        if prompt.audio:
            audio = prompt.audio
            return [Play(audio if audio.startswith("https://") else f"/media/prompts/{audio}")]
        voice = (voices or {}).get(prompt.voice or "", self.voice)
        return [Say(prompt.text, voice.say_voice, voice.say_language)]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _prompt(locale: str, key: str, raw: Any, audio_dir: Path) -> Prompt:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw["text"]:
        raise PromptError(f"{locale}: prompt {key!r} needs a non-empty text")
    unknown = placeholders(raw["text"]) - KNOWN_PLACEHOLDERS
    if unknown:
        raise PromptError(f"{locale}: prompt {key!r} uses unknown placeholders {sorted(unknown)}")
    audio = raw.get("audio")
    if audio and not audio.startswith("https://") and not (audio_dir / audio).is_file():
        raise PromptError(f"{locale}: prompt {key!r} names missing audio file {audio!r}")
    return Prompt(raw["text"], audio or None, raw.get("voice") or None)


def load_catalogue(path: Path) -> Catalogue:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    locale = path.stem
    try:
        voice = Voice(**data["voice"])
        entries = data["prompts"]
        label = str(data["label"])
    except (KeyError, TypeError) as exc:
        raise PromptError(f"{path.name}: needs label, voice and prompts sections") from exc
    audio_dir = path.parent / "audio"
    prompts = {key: _prompt(locale, key, raw, audio_dir) for key, raw in entries.items()}
    return Catalogue(locale, label, voice, prompts)


def load_catalogues(prompts_dir: Path) -> dict[str, Catalogue]:
    catalogues = {path.stem: load_catalogue(path) for path in sorted(prompts_dir.glob("*.yaml"))}
    if not catalogues:
        raise PromptError(f"no prompt files in {prompts_dir}")
    check_same_keys(catalogues)
    check_voices(catalogues)
    return catalogues


def check_voices(catalogues: Mapping[str, Catalogue]) -> None:
    """A prompt spoken in another locale's voice must name a locale we have."""
    for locale, catalogue in catalogues.items():
        for key, prompt in catalogue.prompts.items():
            if prompt.voice and prompt.voice not in catalogues:
                raise PromptError(f"{locale}: prompt {key!r} names unknown voice {prompt.voice!r}")


def check_same_keys(catalogues: Mapping[str, Catalogue]) -> None:
    """Every locale must say everything: a key missing in one locale is a silent call."""
    all_keys = set().union(*(set(c.prompts) for c in catalogues.values()))
    for locale, catalogue in catalogues.items():
        missing = all_keys - set(catalogue.prompts)
        if missing:
            raise PromptError(f"{locale}: missing prompts {sorted(missing)}")


def visit_window(catalogue: Catalogue, start: datetime, end: datetime, zone: tzinfo) -> str:
    """An agreed visit as callers hear it and SMS read it: 「12月3日上午9:00–12:00」."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    part = catalogue.prompts[f"sms.part.{'am' if start.hour < 12 else 'pm'}"].text
    values = {
        "month": str(start.month),
        "day": str(start.day),
        "part": part,
        "start": f"{start.hour}:{start:%M}",
        "end": f"{end.hour}:{end:%M}",
    }
    return catalogue.prompts["sms.window"].text.format_map(values)


def moment_words(catalogue: Catalogue, moment: datetime, zone: tzinfo) -> str:
    """A deadline as an SMS reads it: 「12月4日14:35」, "14:35 on 4/12"."""
    local = moment.astimezone(zone)
    values = {"month": str(local.month), "day": str(local.day), "time": f"{local:%H:%M}"}
    return catalogue.prompts["sms.moment"].text.format_map(values)
