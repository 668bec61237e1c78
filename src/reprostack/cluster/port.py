"""The scheduler port: the one interface through which reprostack uses a cluster scheduler.

:class:`reprostack.cluster.slurm_scheduler.SlurmScheduler` implements it with Slurm's own
commands and :class:`reprostack.cluster.k8s_scheduler.K8sScheduler` with the Kubernetes API;
tests have a fake that implements the same Protocol for the workflows above it
(:mod:`reprostack.cluster.flow`). :func:`scheduler_for` is the only place that turns a kind
(``--slurm``/``--k8s``, ``scheduler.kind`` in run.yaml) into an implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

from reprostack.cluster.options import SubmitOptions
from reprostack.config import Config
from reprostack.errors import EnvironmentMissing, UsageError
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord

SchedulerKind = Literal["slurm", "k8s"]
KINDS: tuple[SchedulerKind, ...] = get_args(SchedulerKind)


@dataclass(frozen=True)
class Submission:
    """What a submission made: the queued records and how the scheduler names their jobs.

    A dry run makes no record: ``manifest`` is what would have been submitted.
    """

    records: list[RunRecord]
    jobs: list[str]  # each record's job as the scheduler names it ("12_3", "repro-<id>")
    job: str  # the whole submission in words: "Slurm job 12", "Kubernetes Job repro-<id>"
    note: str  # what was submitted and how to look at it, for the person who submitted it
    manifest: str | None = None


class SchedulerUnreachable(EnvironmentMissing):
    """The scheduler did not answer in time (controller down or hung, no client here).

    Raised by :meth:`Scheduler.refresh`: ``settled`` holds what it could settle before, every
    other open record stays as last recorded, and nothing may be judged from it (a run is not
    ``lost`` because its scheduler did not answer).
    """

    def __init__(self, reason: str, settled: dict[Path, RunRecord] | None = None) -> None:
        super().__init__(reason, hint="`repro runs` shows such runs as last recorded")
        self.reason = reason
        self.settled = settled or {}


class Scheduler(Protocol):
    """A cluster scheduler: submit runs, ask how they are, cancel, follow and replay them.

    Every method works on run folders (``runs/<id>``) whose records this scheduler submitted;
    the records are the truth the node and the scheduler write to.
    """

    @property
    def kind(self) -> SchedulerKind:
        """Return the kind recorded as ``scheduler.kind`` in run.yaml."""
        ...

    def submit(self, config: Config, request: RunRequest, options: SubmitOptions) -> Submission:
        """Record ``request`` as queued run(s) and submit their job; RunFailedToStart (125)
        with the records closed as failed when the scheduler cannot take it."""
        ...

    def is_open(self, record: RunRecord) -> bool:
        """Return whether the record has not heard the end of its job (refresh may settle it)."""
        ...

    def refresh(self, folders: list[Path]) -> dict[Path, RunRecord]:
        """Bring the open records among ``folders`` up to date; return those it settled.

        A scheduler that does not answer within seconds (no client, server down or hung)
        leaves them as they are and raises SchedulerUnreachable saying so.
        """
        ...

    def cancel(self, folders: list[Path], *, whole_array: bool = False) -> list[Path]:
        """Cancel the runs' jobs (with ``whole_array`` every task of their arrays) and wait
        briefly for the records to say so; return the folders of every run cancelled."""
        ...

    def follow(self, folders: list[Path], *, logs: bool = True) -> list[RunRecord]:
        """Wait until every run has ended (with ``logs``, streaming its output where the
        scheduler lets us); return the closed records in the order of ``folders``."""
        ...

    def resubmit(self, config: Config, folder: Path, original: RunRecord) -> Submission:
        """Submit the recorded run ``original`` (in ``folder``) again, as it was submitted;
        the new record says ``replay_of``."""
        ...

    def summary(self, record: RunRecord) -> str:
        """Return one line saying how a closed run ended (``--wait`` reports it)."""
        ...


SchedulerLookup = Callable[[str], Scheduler]


def scheduler_for(kind: str) -> Scheduler:
    """The scheduler of ``kind``; UsageError for a kind this version does not know."""
    if kind == "slurm":
        from reprostack.cluster.slurm_scheduler import SlurmScheduler

        return SlurmScheduler()
    if kind == "k8s":
        from reprostack.cluster.k8s_scheduler import K8sScheduler

        return K8sScheduler()
    raise UsageError(
        f"unknown scheduler {kind!r}; this version of repro knows {', '.join(KINDS)}",
        hint="upgrade repro to handle runs recorded by a newer version",
    )


def kind_of(record: RunRecord | None) -> str | None:
    """``scheduler.kind`` of a cluster record; None for a run of this machine."""
    kind = (record.scheduler or {}).get("kind") if record else None
    return kind if isinstance(kind, str) and kind else None


def scheduler_of(
    record: RunRecord | None, schedulers: SchedulerLookup = scheduler_for
) -> Scheduler | None:
    """The scheduler that ran ``record``; None for a run of this machine, or of a scheduler
    this version does not know (nothing here could ask it)."""
    kind = kind_of(record)
    if kind is None:
        return None
    try:
        return schedulers(kind)
    except UsageError:
        return None


def nothing_to_cancel(record: RunRecord, hint: str | None = None) -> UsageError:
    """The refusal of ``repro cancel`` for a run without a Slurm job."""
    return UsageError(
        f"run {record.id} was not submitted to Slurm; nothing to cancel",
        hint=hint or "stop a local run with Ctrl-C or by signalling its process",
    )
