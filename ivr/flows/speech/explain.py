"""`ivr flows --explain`: how a menu hears one sentence, in words a manager can act on."""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flows.definition import Node
from ivr.flows.speech.listener import Listener
from ivr.flows.speech.slots import digits_said, unit_said, visit_said


def explanation(listener: Listener, node: Node, locale: str, sentence: str) -> Iterator[str]:
    heard = listener.hear(node, locale, sentence)
    yield f"menu {node.name} ({locale}) hears: {sentence}"
    option = heard.option
    if option is None:
        outcome = "out of scope: the options again" if heard.out_of_scope else "not understood"
        yield f"  decision: {outcome}"
    else:
        label = option.label.get(locale) or option.means or option.goto
        sets = ", ".join(f"{k}={v}" for k, v in option.set.items())
        kind = "emergency: " if heard.emergency else ""
        yield f"  decision: {kind}option {option.key} ({label}) -> {option.goto}"
        if sets:
            yield f"  remembers: {sets}"
        yield "  acts at once" if heard.sure else "  asks the caller back first"
    yield f"  score: {heard.score:.2f} via {heard.via or 'nothing'}"
    for reason in heard.why:
        yield f"  why: {reason}"
    yield f"  slots: {', '.join(_slots(listener, node, sentence, locale)) or 'none'}"


def _slots(listener: Listener, node: Node, sentence: str, locale: str) -> Iterator[str]:
    unit = unit_said(sentence)
    if unit is not None:
        yield f"unit {unit.label}"
    digits = digits_said(sentence)
    if digits and unit is None:
        yield f"number {digits}"
    answer = listener.yes_or_no(sentence, locale)
    if answer and any(o.means for o in node.options.values()):
        yield f"answer {answer}"
    visit = visit_said(sentence)
    if visit is not None:
        when = " ".join(p for p in (visit.day, visit.half) if p)
        yield f"visit {when or f'option {visit.ordinal}'}"
