"""Find runs: list them newest first and resolve an id, a unique prefix or ``last``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from reprostack.errors import RunNotFound
from reprostack.runs.ids import RUN_ID_RE
from reprostack.runs.record import RUN_FILE


def iter_run_ids(runs_dir: Path) -> Iterator[str]:
    """Ids of the recorded runs, newest first (ids sort by their UTC start time), lazily.

    Only the folders a caller takes are checked for a ``run.yaml``: ``repro runs -n 20``
    over 10,000 runs stats 20 files, not 10,000.
    """
    if not runs_dir.is_dir():
        return
    with os.scandir(runs_dir) as entries:
        names = [entry.name for entry in entries if RUN_ID_RE.match(entry.name)]
    for name in sorted(names, reverse=True):
        if os.path.isfile(os.path.join(runs_dir, name, RUN_FILE)):
            yield name


def list_run_ids(runs_dir: Path) -> list[str]:
    """Ids of the recorded runs, newest first (ids sort by their UTC start time)."""
    return list(iter_run_ids(runs_dir))


def resolve_run(runs_dir: Path, ref: str) -> Path:
    """Return the folder of the run named by ``ref`` (full id, unique prefix, or ``last``)."""
    ids = list_run_ids(runs_dir)
    if not ids:
        raise RunNotFound(
            f"no runs recorded in {runs_dir}", hint="record one with `repro run script.py`"
        )
    if ref == "last":
        return runs_dir / ids[0]
    if ref in ids:
        return runs_dir / ref
    matches = [run_id for run_id in ids if run_id.startswith(ref)]
    if len(matches) == 1:
        return runs_dir / matches[0]
    if not matches:
        shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        raise RunNotFound(
            f"no run matches '{ref}' in {runs_dir}",
            hint=f"recent runs: {shown} (or use 'last'; `repro runs` lists them all)",
        )
    shown = ", ".join(matches[:10]) + (" ..." if len(matches) > 10 else "")
    raise RunNotFound(
        f"'{ref}' matches {len(matches)} runs: {shown}",
        hint="give more characters of the id",
    )
