"""The scheduler port on Slurm: ``sbatch``, ``squeue``/``scontrol``/``sacct``, ``scancel``.

The work is done where it always was (:mod:`~reprostack.cluster.submit` writes the script and
submits, :mod:`~reprostack.cluster.status` settles records, :mod:`~reprostack.cluster.follow`
tails the logs); this class is how the workflows reach them.
"""

from __future__ import annotations

from pathlib import Path

from reprostack.cluster import slurm
from reprostack.cluster.follow import follow
from reprostack.cluster.options import SubmitOptions
from reprostack.cluster.port import SchedulerKind, Submission, nothing_to_cancel
from reprostack.cluster.replay import replay_request
from reprostack.cluster.status import needs_scheduler, settle_folders, wait_until_settled
from reprostack.cluster.submit import effective_options, options_of, submit_slurm
from reprostack.config import Config
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, read_record
from reprostack.record.store import list_runs


class SlurmScheduler:
    """Slurm through the commands a user can type on a login node."""

    @property
    def kind(self) -> SchedulerKind:
        return "slurm"

    def submit(self, config: Config, request: RunRequest, options: SubmitOptions) -> Submission:
        records = submit_slurm(config, request, effective_options(config, options.slurm))
        return _submission(records)

    def is_open(self, record: RunRecord) -> bool:
        return needs_scheduler(record)

    def refresh(self, folders: list[Path]) -> dict[Path, RunRecord]:
        return settle_folders(folders)

    def cancel(self, folders: list[Path], *, whole_array: bool = False) -> list[Path]:
        refs = []
        for folder in folders:
            record = read_record(folder)
            scheduler = record.scheduler or {}
            if not scheduler.get("job_id"):
                raise nothing_to_cancel(record)
            index = None if whole_array else scheduler.get("array_index")
            refs.append(slurm.job_ref(str(scheduler["job_id"]), index))
        slurm.cancel(sorted(set(refs)))
        if whole_array and folders:
            folders = _array_folders(folders[0].parent, refs)
        wait_until_settled(folders)
        return folders

    def follow(self, folders: list[Path], *, logs: bool = True) -> list[RunRecord]:
        return follow(folders, logs=logs)

    def resubmit(self, config: Config, folder: Path, original: RunRecord) -> Submission:
        request, image = replay_request(config, folder, original)
        options = options_of(original.scheduler or {})
        return _submission(submit_slurm(config, request, options, image=image))

    def summary(self, record: RunRecord) -> str:
        return (
            f"run {record.id} {record.status} (exit {record.exit_code}) on "
            f"{record.node or '?'}" + (f": {record.error}" if record.error else "")
        )


def _submission(records: list[RunRecord]) -> Submission:
    """The job of each task (``12`` or ``12_3``) and what was submitted, in words."""
    jobs = []
    for record in records:
        scheduler = record.scheduler or {}
        jobs.append(slurm.job_ref(str(scheduler.get("job_id")), scheduler.get("array_index")))
    job_id = (records[0].scheduler or {}).get("job_id")
    return Submission(
        records=records,
        jobs=jobs,
        job=f"Slurm job {job_id}",
        note=f"submitted {len(records)} run(s) as Slurm job {job_id}; "
        "`repro runs` shows their state, `repro cancel RUN` stops one",
    )


def _array_folders(runs_dir: Path, job_ids: list[str]) -> list[Path]:
    """Every run folder whose job is one of ``job_ids``."""
    return [
        entry.folder
        for entry in list_runs(runs_dir)
        if entry.record and str((entry.record.scheduler or {}).get("job_id")) in job_ids
    ]
