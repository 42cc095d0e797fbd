"""Voice webhooks for the calls the hotline places: agent-first callbacks bridged to the
resident, and the automated return-visit survey (回访).

Routes join the `voice` blueprint, so the signature check and the never-silent error
handler apply; like every `/voice/*` view, nothing here runs SQL: what the TwiML needs
travels in the URL the worker gave Twilio when it placed the call.
"""

from __future__ import annotations

from ivr.voice import voice

__all__ = ["voice"]
