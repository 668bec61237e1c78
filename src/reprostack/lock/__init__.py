"""Hashed locks for the image's Python and platform: ``repro lock`` as a library.

Backends (pip-tools, uv, Poetry) run as commands behind one small interface (``base.Locker``);
``project.lock_project`` decides what is stale and writes locks atomically; the header says
what each lock was resolved for, and the build refuses a lock made for another target.
"""

from __future__ import annotations

from reprostack.lock.header import LockHeader, ensure_lock_matches, read_lock_header
from reprostack.lock.project import LockOutcome, lock_path, lock_project, stale_locks

__all__ = [
    "LockHeader",
    "LockOutcome",
    "ensure_lock_matches",
    "lock_path",
    "lock_project",
    "read_lock_header",
    "stale_locks",
]
