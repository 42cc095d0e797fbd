"""TwiML as the hotline sent it: the verbs, in order, with their attributes and text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.sim.transport import HotlineError


@dataclass(frozen=True)
class TwimlVerb:
    tag: str
    attrs: Mapping[str, str]
    text: str = ""
    children: tuple[TwimlVerb, ...] = ()

    def attr_int(self, name: str, default: int) -> int:
        try:
            return int(self.attrs.get(name, default))
        except ValueError:
            return default


def parse_twiml(body: bytes | str) -> list[TwimlVerb]:
    try:
        # Only the hotline the user chose to call answers here, and Python's expat
        # refuses entity-expansion bombs, so the stdlib parser is safe enough.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise HotlineError(f"the hotline did not answer with TwiML: {exc}") from exc
    if root.tag != "Response":
        raise HotlineError(f"the hotline answered <{root.tag}>, not a TwiML <Response>")
    return [_twiml_verb(element) for element in root]


def _twiml_verb(element: ET.Element) -> TwimlVerb:
    children = tuple(_twiml_verb(child) for child in element)
    return TwimlVerb(element.tag, dict(element.attrib), (element.text or "").strip(), children)
