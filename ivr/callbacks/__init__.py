"""Calling residents back (R7) and return visits (回访, R5/R6): the sweep that chooses which
owed callbacks to try (`dispatch`), what a placed call carries in its URLs (`legs`), and
what its webhooks reported (`outcomes`). Callbacks are owed in `ivr.outbound.schedule`.
"""
