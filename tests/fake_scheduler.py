"""An in-memory scheduler implementing the scheduler port, for tests of the cluster workflows.

Its runs are real records in the project's runs folder (the workflows read and write them
as they do for Slurm and Kubernetes); its jobs are entries in a dict, and "the job ended" is
something the test says (:meth:`FakeScheduler.finish`) or the job's ``outcome`` decides when
it is followed. Every call is logged, so a test can say which scheduler was asked what. The
real-Slurm and fake-API-server tests stay the proof that the real implementations do the
same; this one lets the workflows above the port be tested in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.cluster.options import SubmitOptions
from reprostack.cluster.port import SchedulerKind, SchedulerUnreachable, Submission
from reprostack.config import Config
from reprostack.record.ids import allocate_run_dir
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, read_record, utc_now, write_record

# How a job ends when it is followed and nobody said: (status, exit code).
Outcome = Callable[[RunRecord], tuple[str, int | None]]


def succeeds(record: RunRecord) -> tuple[str, int | None]:
    return "succeeded", 0


@dataclass
class FakeScheduler:
    """A scheduler of ``kind`` whose jobs end when the test (or ``outcome``) says so."""

    kind_name: SchedulerKind = "slurm"
    outcome: Outcome = succeeds
    calls: list[tuple[str, list[str]]] = field(default_factory=list)  # (method, run ids)
    ended: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # the jobs' truth
    follow_logs: list[bool] = field(default_factory=list)
    jobs: int = 0
    unreachable: str | None = None  # why the scheduler does not answer now (None: it does)

    @property
    def kind(self) -> SchedulerKind:
        return self.kind_name

    def submit(self, config: Config, request: RunRequest, options: SubmitOptions) -> Submission:
        self.jobs += 1
        job = f"{self.kind_name}-{self.jobs}"
        count = options.slurm.array or 1
        records = []
        for index in range(count):
            run_id, folder = allocate_run_dir(config.runs_dir)
            seed = index if options.slurm.array and request.seed is None else request.seed
            record = RunRecord(
                id=run_id,
                argv=list(request.argv),
                mode=request.mode,
                status="queued",
                seed=seed,
                replay_of=request.replay_of,
                scheduler={"kind": self.kind_name, "job": job, "index": index},
            )
            write_record(folder, record)
            records.append(record)
        self.calls.append(("submit", [record.id for record in records]))
        return Submission(
            records=records,
            jobs=[f"{job}.{index}" for index in range(count)],
            job=f"fake job {job}",
            note=f"submitted {count} run(s) as fake job {job}",
        )

    def finish(self, run_id: str, status: str = "succeeded", exit_code: int | None = 0) -> None:
        """The job of ``run_id`` ended (the record hears of it at the next refresh)."""
        self.ended[run_id] = (status, exit_code)

    def is_open(self, record: RunRecord) -> bool:
        return record.status in ("queued", "running")

    def refresh(self, folders: list[Path]) -> dict[Path, RunRecord]:
        self.calls.append(("refresh", [folder.name for folder in folders]))
        if self.unreachable is not None:
            raise SchedulerUnreachable(self.unreachable)
        settled = {}
        for folder in folders:
            record = read_record(folder)
            if not self.is_open(record) or folder.name not in self.ended:
                continue
            record.status, record.exit_code = self.ended[folder.name]
            record.ended_at = utc_now()
            record.error = "cancelled" if record.status == "interrupted" else None
            write_record(folder, record)
            settled[folder] = record
        return settled

    def cancel(self, folders: list[Path], *, whole_array: bool = False) -> list[Path]:
        self.calls.append(("cancel", [folder.name for folder in folders]))
        for folder in folders:
            self.ended.setdefault(folder.name, ("interrupted", None))
        self.refresh(folders)
        return folders

    def follow(self, folders: list[Path], *, logs: bool = True) -> list[RunRecord]:
        self.calls.append(("follow", [folder.name for folder in folders]))
        self.follow_logs.append(logs)
        for folder in folders:  # every job still going now runs to its end
            if folder.name not in self.ended:
                self.ended[folder.name] = self.outcome(read_record(folder))
        self.refresh(folders)
        return [read_record(folder) for folder in folders]

    def resubmit(self, config: Config, folder: Path, original: RunRecord) -> Submission:
        self.calls.append(("resubmit", [original.id]))
        request = RunRequest(
            argv=list(original.argv),
            mode=original.mode,
            seed=original.seed,
            replay_of=original.id,
            cwd=config.root,
        )
        return self.submit(config, request, SubmitOptions())

    def summary(self, record: RunRecord) -> str:
        return f"run {record.id} {record.status} (exit {record.exit_code}) on fake"

    def asked(self, method: str) -> list[list[str]]:
        """The run ids of every call of ``method``, in order."""
        return [ids for name, ids in self.calls if name == method]


def lookup(*schedulers: FakeScheduler) -> Callable[[str], FakeScheduler]:
    """A kind-to-scheduler map over fakes, as :func:`scheduler_for` maps to real ones."""
    by_kind = {scheduler.kind: scheduler for scheduler in schedulers}

    def find(kind: str) -> FakeScheduler:
        from reprostack.errors import UsageError

        if kind not in by_kind:
            raise UsageError(f"unknown scheduler {kind!r}")
        return by_kind[kind]

    return find
