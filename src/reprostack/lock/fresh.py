"""A build or a container run never uses a stale lock in silence.

Staleness is decided where ``repro lock --check`` decides it (:func:`lock_project` with
``check``); this module only turns its verdict into a refusal, or, with ``--allow-stale``,
into notes that the build prints and the run records.
"""

from __future__ import annotations

from reprostack.config import Config
from reprostack.errors import StaleLock
from reprostack.lock.header import ensure_lock_matches
from reprostack.lock.project import lock_path, lock_project

# The locks an image of each variant installs: dev extends prod's deps stage.
LOCKS_OF = {"prod": ("prod",), "dev": ("prod", "dev")}


def stale_lock_notes(config: Config, variant: str, allow_stale: bool = False) -> list[str]:
    """Return what to note about the locks ``variant``'s image installs (empty: all fresh).

    A missing lock, or one made for another Python or platform, is left to the build's own
    checks (their messages and exit codes stay theirs). Raises StaleLock naming each stale
    lock and `repro lock` unless ``allow_stale``; then returns one note per stale lock.
    """
    variants = LOCKS_OF.get(variant, (variant,))
    present = [v for v in variants if lock_path(config, v).is_file()]
    for name in present:
        ensure_lock_matches(config, lock_path(config, name))
    if not present:
        return []
    stale = [o.message for o in lock_project(config, present, check=True) if o.status == "stale"]
    if not stale:
        return []
    if not allow_stale:
        them = "them" if len(stale) > 1 else "it"
        raise StaleLock(
            "\n".join(stale),
            hint=f"run `repro lock` to update {them}, or pass --allow-stale to use {them} "
            "anyway (the run's notes then say so)",
        )
    return [f"used a stale lock (--allow-stale): {message}" for message in stale]
