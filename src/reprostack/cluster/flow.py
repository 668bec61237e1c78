"""Cluster workflows over the scheduler port: submit (and follow), cancel, refresh.

Each works for any scheduler: the kind chosen on the command line or recorded in run.yaml
picks the implementation (:func:`reprostack.cluster.port.scheduler_for`), and what the
person at the terminal is told goes through a :class:`Progress` the command supplies.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

from reprostack.cluster.options import SubmitOptions
from reprostack.cluster.port import (
    Scheduler,
    SchedulerLookup,
    SchedulerUnreachable,
    Submission,
    kind_of,
    nothing_to_cancel,
    scheduler_for,
    scheduler_of,
)
from reprostack.config import Config
from reprostack.record.request import RunRequest
from reprostack.record.run import DamagedRecord, RunRecord, read_record
from reprostack.record.store import RunEntry, resolve_run
from reprostack.runs.local import exit_status


class Progress(Protocol):
    """Where a workflow reports what happened, as it happens (the command prints it)."""

    def submitted(self, submission: Submission) -> None:
        """The job was submitted (or, for a dry run, rendered)."""
        ...

    def ended(self, summary: str) -> None:
        """A followed run ended: one line saying how."""
        ...


def submit_run(
    config: Config,
    request: RunRequest,
    kind: str,
    options: SubmitOptions,
    *,
    wait: bool,
    progress: Progress,
    schedulers: SchedulerLookup = scheduler_for,
) -> int | None:
    """Submit ``request`` to the scheduler of ``kind``; with ``wait`` follow the runs until
    they end. Return the exit status when it waited (the first failing run's), else None."""
    scheduler = schedulers(kind)
    submission = scheduler.submit(config, request, options)
    progress.submitted(submission)
    if not wait or not submission.records:
        return None
    return follow_runs(config, scheduler, submission.records, progress)


def follow_runs(
    config: Config, scheduler: Scheduler, records: list[RunRecord], progress: Progress
) -> int:
    """Follow the runs until they end (one run's logs stream); the first failing run's
    exit status, 0 when all succeeded."""
    folders = [config.runs_dir / record.id for record in records]
    code = 0
    for record in scheduler.follow(folders, logs=len(records) == 1):
        progress.ended(scheduler.summary(record))
        code = code or exit_status(record)
    return code


def cancel_runs(
    config: Config,
    run_refs: list[str],
    *,
    whole_array: bool = False,
    schedulers: SchedulerLookup = scheduler_for,
) -> list[RunRecord]:
    """Cancel the runs' jobs (RUN: id, prefix or 'last'); their records once settled.

    A run of this machine is refused (UsageError) before any job is cancelled.
    """
    groups: dict[str, tuple[Scheduler, list[Path]]] = {}
    for ref in run_refs:
        folder = resolve_run(config.runs_dir, ref)
        record = read_record(folder)
        scheduler = scheduler_of(record, schedulers)
        if scheduler is None:
            raise nothing_to_cancel(record)
        groups.setdefault(scheduler.kind, (scheduler, []))[1].append(folder)
    cancelled: list[Path] = []
    for scheduler, folders in groups.values():
        cancelled += scheduler.cancel(folders, whole_array=whole_array)
    return [read_record(folder) for folder in cancelled]


def refresh_runs(
    folders: list[Path], schedulers: SchedulerLookup = scheduler_for
) -> dict[Path, RunRecord]:
    """Bring the open cluster records among ``folders`` up to date, whichever scheduler ran
    them; the records that were settled."""
    records = {}
    for folder in folders:
        try:
            records[folder] = read_record(folder)
        except DamagedRecord:  # shown as damaged; nothing to ask a scheduler
            continue
    return _refresh(records, schedulers).settled


def refresh_entries(
    entries: list[RunEntry], schedulers: SchedulerLookup = scheduler_for
) -> list[RunEntry]:
    """``entries`` with their open cluster records brought up to date.

    Every record a scheduler was asked about is read again afterwards (the node may have
    written it while the scheduler was slow): a listing never judges a run on what its record
    said before the wait. A run whose scheduler did not answer carries the reason as
    ``scheduler_note`` and is shown as last recorded, never as ``lost``.
    """
    records = {entry.folder: entry.record for entry in entries if entry.record is not None}
    refreshed = _refresh(records, schedulers)
    out = []
    for entry in entries:
        if entry.folder not in refreshed.asked:
            out.append(entry)
            continue
        record = refreshed.settled.get(entry.folder)
        try:
            record = record or read_record(entry.folder)
        except DamagedRecord as exc:
            out.append(dataclasses.replace(entry, record=None, problem=exc.reason))
            continue
        note = refreshed.unreachable.get(entry.folder)
        if record.status not in ("queued", "running"):
            note = None  # the node closed the record while its scheduler did not answer
        out.append(dataclasses.replace(entry, record=record, scheduler_note=note))
    return out


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """What asking the schedulers gave: the records they settled, the folders they were
    asked about, and why a scheduler that did not answer did not (by folder)."""

    settled: dict[Path, RunRecord]
    asked: set[Path]
    unreachable: dict[Path, str]


def _refresh(records: dict[Path, RunRecord], schedulers: SchedulerLookup) -> Refreshed:
    """Ask each scheduler about its open records, all of them at once."""
    groups: dict[str, tuple[Scheduler, list[Path]]] = {}
    for folder, record in records.items():
        scheduler = scheduler_of(record, schedulers)
        if scheduler is not None and scheduler.is_open(record):
            groups.setdefault(scheduler.kind, (scheduler, []))[1].append(folder)
    settled: dict[Path, RunRecord] = {}
    asked: set[Path] = set()
    unreachable: dict[Path, str] = {}
    for scheduler, folders in groups.values():
        asked.update(folders)
        try:
            settled.update(scheduler.refresh(folders))
        except SchedulerUnreachable as exc:
            settled.update(exc.settled)
            unreachable.update(
                (folder, exc.reason) for folder in folders if folder not in exc.settled
            )
    return Refreshed(settled, asked, unreachable)


@dataclasses.dataclass(frozen=True)
class Resubmitted:
    """A cluster run submitted again and followed to its end."""

    original: RunRecord
    folder: Path  # the original's run folder
    record: RunRecord  # the replay's record, closed
    exit_code: int  # what `repro replay` exits with: the replay's own


def resubmit_run(
    config: Config,
    run_ref: str,
    progress: Progress,
    schedulers: SchedulerLookup = scheduler_for,
) -> Resubmitted | None:
    """Submit the cluster run ``run_ref`` again to the scheduler that ran it and follow it
    to its end; None for a run of this machine (nothing submitted)."""
    folder = resolve_run(config.runs_dir, run_ref)
    original = read_record(folder)
    kind = kind_of(original)
    if kind is None:
        return None
    scheduler = schedulers(kind)  # a kind this version does not know is refused here
    submission = scheduler.resubmit(config, folder, original)
    progress.submitted(submission)
    code = follow_runs(config, scheduler, submission.records, progress)
    (record,) = submission.records
    closed = read_record(config.runs_dir / record.id)
    return Resubmitted(original, folder, closed, code)
