"""The hotline's own terms, with no Flask, SQL or Redis: events, the verbs a flow speaks,
prompts, office hours, service levels, the labels staff read, the clock.
"""
