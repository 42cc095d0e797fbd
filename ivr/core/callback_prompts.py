"""The words of a call the hotline places: why we call (how the callback came about) and
what about. Kept apart from ivr.callbacks so that the flow validator, and the callback
flows' prompt keys that name them (``callback.agent.{src}``), need no SQL, RQ or REST."""

from __future__ import annotations

# Why we call, as the agent and the resident hear it; by how the callback came about.
SOURCES = ("asked", "missed", "message", "general")
TOPICS = ("repair", "complaint", "inquiry", "emergency", "general")
# The kinds of emergency an on-call engineer is alerted to (``emergency.kind.{emg}``), and
# the kind each repair category stands for on an emergency order.
EMERGENCIES = ("leak", "power", "lift", "gas", "fire", "other")
EMERGENCY_BY_CATEGORY = {
    "water": "leak",
    "electric": "power",
    "lift": "lift",
    "gas": "gas",
    "fire": "fire",
}

# Prompts of the calls we place that no flow speaks (the flows' own are checked with their
# flows, ivr/flows/<name>.yaml): the SMS a dissatisfied return visit sends.
CALLBACK_PROMPTS = ("sms.return_visit_dissatisfied",)
