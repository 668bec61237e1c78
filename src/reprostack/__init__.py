"""reprostack: make an ML experiment reproducible end to end."""

__version__ = "0.1.0"
