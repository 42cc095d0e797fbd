"""Repair orders and complaints: numbering, deadlines, escalations and the queries behind
the pages.
"""
