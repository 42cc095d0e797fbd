"""`ivr flows --mermaid`: the call tree as a Mermaid diagram for the README."""

from __future__ import annotations

from collections.abc import Mapping

from ivr.flows.definition import REPEAT, Flow, Node
from ivr.prompts import Catalogue

SHAPES = {
    "say": ('["', '"]'),
    "menu": ('{{"', '"}}'),
    "hours": ('{"', '"}'),
    "language": ('(["', '"])'),
    "queue": ('[["', '"]]'),
    "message": ('[/"', '"/]'),
    "hangup": ('(("', '"))'),
}


def _label(node: Node, catalogue: Catalogue | None) -> str:
    words = node.name
    if node.type == "queue":
        words += f"<br/>queue: {node.queue}"
    elif node.type == "hours":
        words += "<br/>office open?"
    elif catalogue and node.prompts:
        first = catalogue.prompts[node.prompts[0]].text
        words += "<br/>" + (first[:24] + "…" if len(first) > 24 else first)
    return words.replace('"', "'")


def flow_to_mermaid(flow: Flow, catalogues: Mapping[str, Catalogue], locale: str) -> str:
    catalogue = catalogues.get(locale)
    lines = ["flowchart TD"]
    for node in flow.nodes.values():
        left, right = SHAPES[node.type]
        lines.append(f"    {node.name}{left}{_label(node, catalogue)}{right}")
    for node in flow.nodes.values():
        for label, target in node.targets():
            if target == REPEAT:
                target = node.name
            edge = f"|{label}|" if label not in {"next"} else ""
            lines.append(f"    {node.name} -->{edge} {target}")
    return "\n".join(lines) + "\n"
