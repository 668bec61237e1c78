"""Where reprostack keeps what it can compute again: a cache outside every project and git."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$REPRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/reprostack``, else ``~/.cache/reprostack``."""
    explicit = os.environ.get("REPRO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "reprostack"
