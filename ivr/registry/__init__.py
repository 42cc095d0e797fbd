"""Who is who: residents, staff, the callers' directory, demo estate, and the privacy rules
over them.
"""
