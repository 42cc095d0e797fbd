"""`ivr flows --mermaid`: the call tree as a Mermaid diagram for the README."""

from __future__ import annotations

from collections.abc import Mapping

from ivr.core.prompts import Catalogue
from ivr.flows.definition import REPEAT, Flow, Node

SHAPES = {
    "say": ('["', '"]'),
    "menu": ('{{"', '"}}'),
    "hours": ('{"', '"}'),
    "language": ('(["', '"])'),
    "queue": ('[["', '"]]'),
    "message": ('[/"', '"/]'),
    "hangup": ('(("', '"))'),
    "set": ('(["', '"])'),
    "identify": ('{"', '"}'),
    "collect": ('{{"', '"}}'),
    "lookup_unit": ('(["', '"])'),
    "describe": ('{{"', '"}}'),
    "record": ('[/"', '"/]'),
    "appointment": ('{{"', '"}}'),
    "ticket": ('[("', '")]'),
    "dial": ('[["', '"]]'),
    "status": ('["', '"]'),
    "rating": ('{{"', '"}}'),
    "branch": ('{"', '"}'),
    "connect": ('[["', '"]]'),
    "whisper": ('[/"', '"/]'),
    "oncall": ('{"', '"}'),
}


def _label(node: Node, catalogue: Catalogue | None) -> str:
    words = node.name
    if node.type == "queue":
        words += f"<br/>queue: {node.queue}"
    elif node.type == "hours":
        words += "<br/>office open?"
    elif node.type == "oncall":
        words += "<br/>anyone on call?"
    elif node.type == "identify":
        words += "<br/>caller ID known?"
    elif node.type == "set":
        words += "<br/>" + ", ".join(f"{k}={v}" for k, v in node.set.items())
    elif node.type == "branch":
        words += f"<br/>{node.value}?"
    elif catalogue and node.spoken:
        # A key that names what the call knows (callback.agent.{src}) is shown as written.
        found = catalogue.prompts.get(node.spoken[0])
        first = found.text if found else node.spoken[0]
        words += "<br/>" + (first[:24] + "…" if len(first) > 24 else first)
    return words.replace('"', "'")


def flow_to_mermaid(flow: Flow, catalogues: Mapping[str, Catalogue], locale: str) -> str:
    catalogue = catalogues.get(locale)
    lines = ["flowchart TD"]
    for node in flow.nodes.values():
        left, right = SHAPES[node.type]
        lines.append(f"    {node.name}{left}{_label(node, catalogue)}{right}")
    returns: set[str] = set()
    for node in flow.nodes.values():
        for label, target in node.targets():
            if target == REPEAT:
                target = node.name
            elif target.startswith("$"):
                # A sub-flow's return address, remembered by whoever called it.
                returns.add(target[1:])
                target = f"back_to_{target[1:]}"
            edge = f"|{label}|" if label not in {"next"} else ""
            lines.append(f"    {node.name} -->{edge} {target}")
    lines += [f'    back_to_{key}(["back to ${key}"])' for key in sorted(returns)]
    return "\n".join(lines) + "\n"
