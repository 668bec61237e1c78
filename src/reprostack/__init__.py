"""reprostack: make an ML experiment reproducible end to end."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "log_metrics"]


def __getattr__(name: str) -> Any:
    # `from reprostack import log_metrics` loads the (standard-library only) helper on first
    # use, so every `repro` command, which imports this package first, does not pay for it.
    if name == "log_metrics":
        from reprostack.experiments.logger import log_metrics

        return log_metrics
    raise AttributeError(f"module 'reprostack' has no attribute {name!r}")
