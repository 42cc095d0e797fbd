"""The call register: events written by the workers, what they set in motion, and the
queries staff pages read.
"""
