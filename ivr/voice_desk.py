"""Voice webhooks for calls an agent takes from the desk: the caller is redirected to a
`<Dial>` to the agent's phone, and comes back to the queue if the agent does not answer.

Routes join the `voice` blueprint, so the signature check and the never-silent error
handler apply; like every `/voice/*` view, nothing here runs SQL.
"""

from __future__ import annotations

from ivr.voice import voice

__all__ = ["voice"]
