"""Turning what a caller said (or pressed) into a menu option: see listener.Listener."""

from ivr.flows.speech.listener import Heard, Listener, speech_hints, yes_or_no
from ivr.flows.speech.text import clean_digits, clean_speech, normalise

__all__ = [
    "Heard",
    "Listener",
    "clean_digits",
    "clean_speech",
    "normalise",
    "speech_hints",
    "yes_or_no",
]
