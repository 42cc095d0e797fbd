"""What the bridge webhooks need to put a waiting caller through to an agent.

The desk writes it into the URL it hands Twilio when it redirects the caller; Twilio
signs the URLs it then calls, so the webhooks trust it without reading anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from ivr.registry.residents import is_e164

MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class Bridge:
    """Which agent takes the caller, and where the caller waited (the queue node and the
    step, so the call log orders the bridge after the hand-off and the caller can go back)."""

    node: str
    locale: str
    seq: int
    agent_id: int
    agent_name: str
    agent_phone: str

    def next_step(self) -> Bridge:
        return replace(self, seq=self.seq + 1)

    def as_query(self) -> str:
        return urlencode(
            {
                "node": self.node,
                "lang": self.locale,
                "seq": self.seq,
                "agent": self.agent_id,
                "name": self.agent_name,
                "to": self.agent_phone,
            }
        )

    @classmethod
    def from_args(cls, args: Mapping[str, str], queue_nodes: Collection[str]) -> Bridge | None:
        """The bridge these URL arguments describe; None when they cannot be one of ours."""
        agent, seq = args.get("agent", ""), args.get("seq", "")
        node, phone = args.get("node", ""), args.get("to", "")
        if not (agent.isdigit() and seq.isdigit() and node in queue_nodes and is_e164(phone)):
            return None
        name = args.get("name", "")[:MAX_NAME_CHARS]
        return cls(node, args.get("lang", ""), int(seq), int(agent), name, phone)
