"""Find runs: list them newest first and resolve an id, a unique prefix or ``last``.

Order is the true start time: ids sort by their start second, and runs that started in the
same second are ordered by ``started_at`` (microseconds) from their records. Only the records
shown are read, so ``repro runs -n 20`` costs the same with 20 or 20,000 runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from reprostack.errors import RunNotFound
from reprostack.record.ids import RUN_ID_RE
from reprostack.record.process import is_gone
from reprostack.record.run import RUN_FILE, DamagedRecord, RunRecord, read_record

LOST = "lost"
DAMAGED = "damaged"


@dataclass(frozen=True)
class RunEntry:
    """One run folder as a listing shows it.

    ``record`` is None for a damaged record, ``problem`` says why. ``status`` is the
    record's, except ``lost`` (a ``running`` record whose process is gone) and ``damaged``.
    ``scheduler_note`` says why a cluster run's scheduler could not tell how its job is; such
    a run is shown as last recorded, never ``lost`` (nothing here knows it ended).
    """

    id: str
    folder: Path
    record: RunRecord | None
    problem: str | None = None
    scheduler_note: str | None = None

    @property
    def status(self) -> str:
        record = self.record
        if record is None:
            return DAMAGED
        if (
            record.status == "running"
            and self.scheduler_note is None
            and is_gone(record.host, record.pid, record.boot_id, record.process_start)
        ):
            return LOST
        return record.status


def _folder_ids(runs_dir: Path) -> list[str]:
    """Ids of the run folders, newest start second first (same-second order still open)."""
    try:
        names = os.listdir(runs_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    ids = [name for name in names if RUN_ID_RE.match(name)]
    # The stamp is the first 15 characters; within a second the suffix is random.
    ids.sort(reverse=True)
    return ids


def _entry(runs_dir: Path, run_id: str) -> RunEntry:
    folder = runs_dir / run_id
    try:
        return RunEntry(run_id, folder, read_record(folder))
    except DamagedRecord as exc:
        return RunEntry(run_id, folder, None, exc.reason)


def list_runs(
    runs_dir: Path, limit: int | None = None, status: str | None = None
) -> list[RunEntry]:
    """The newest ``limit`` runs (all without a limit), newest first, each record read once.

    With ``status``, only runs whose listed status (``lost`` and ``damaged`` included) is that;
    records are read until ``limit`` of them match. A folder without ``run.yaml`` (a run being
    created this instant, or debris) is no run.
    """
    entries: list[RunEntry] = []
    for _stamp, group in groupby(_folder_ids(runs_dir), key=lambda run_id: run_id[:15]):
        ids = list(group)
        read = [_entry(runs_dir, run_id) for run_id in ids]
        read = [e for e in read if e.record is not None or (e.folder / RUN_FILE).exists()]
        if len(read) > 1:
            # Microsecond start times order a second's runs; damaged ones go last.
            read.sort(key=lambda e: e.record.started_at if e.record else "", reverse=True)
        entries.extend(e for e in read if status is None or e.status == status)
        if limit is not None and len(entries) >= limit:
            return entries[:limit]
    return entries


def list_run_ids(runs_dir: Path) -> list[str]:
    """Ids of the recorded runs, newest first (true start time)."""
    return [entry.id for entry in list_runs(runs_dir)]


def resolve_run(runs_dir: Path, ref: str) -> Path:
    """Return the folder of the run named by ``ref`` (full id, unique prefix, or ``last``)."""
    if ref == "last":
        newest = list_runs(runs_dir, limit=1)
        if newest:
            return newest[0].folder
    ids = _folder_ids(runs_dir)
    ids = [run_id for run_id in ids if (runs_dir / run_id / RUN_FILE).is_file()]
    if not ids:
        raise RunNotFound(
            f"no runs recorded in {runs_dir}", hint="record one with `repro run script.py`"
        )
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
