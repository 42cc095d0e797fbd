"""The supervisor console (主管控制台) at /console/: one module per page."""

# The blueprint and its navigation first; `home` then imports the pages in their order.
from ivr.console import home  # noqa: F401
