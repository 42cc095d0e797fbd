"""The words of a callback and a return-visit survey: why we call and what about, and the
prompts those calls speak. Kept apart from ivr.callbacks so the flow validator can
check the prompts without loading the callbacks' SQL, RQ and REST client."""

from __future__ import annotations

# Why we call, as the agent and the resident hear it; by how the callback came about.
SOURCES = ("asked", "missed", "message", "general")
TOPICS = ("repair", "complaint", "inquiry", "emergency", "general")

# Prompts the callback and survey webhooks speak; ivr/flows/validate.py checks every locale.
CALLBACK_PROMPTS = (
    *(f"callback.agent.{source}" for source in SOURCES),
    "callback.agent.accept",
    "callback.agent.connecting",
    "callback.agent.not_accepted",
    "callback.agent.done",
    "callback.agent.retry",
    "callback.agent.unreachable",
    "callback.phone_tail",
    *(f"callback.resident.{source}" for source in SOURCES),
    *(f"callback.topic.{topic}" for topic in TOPICS),
    "survey.greeting",
    "survey.kind.repair",
    "survey.kind.complaint",
    "survey.ask",
    "survey.thanks",
    "survey.dissatisfied",
    "survey.no_rating",
    "sms.return_visit_dissatisfied",
)
