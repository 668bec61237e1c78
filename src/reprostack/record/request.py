"""What a run is asked to do: ``RunRequest``, made from the command line or from a record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from reprostack.config.schema import RunMode
from reprostack.record.run import DamagedRecord, RunRecord

# The seed a deterministic run gets when none was given (recorded, so a replay uses it too).
DEFAULT_SEED = 0


@dataclass
class RunRequest:
    """What the user asked to run, and how."""

    argv: list[str]
    mode: RunMode = "local"
    seed: int | None = None
    replay_of: str | None = None
    mounts: list[str] = field(default_factory=list)
    # A replay runs in a detached worktree of the recorded commit: the branch it stands for
    # is the original run's, recorded as such (git itself would say none).
    branch: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    deterministic: bool = False
    # Hash every input the command read, also those over run.inputs.hash_limit.
    hash_inputs: bool = False
    # A run folder allocated earlier: a cluster job fills in the record its submission wrote.
    run_dir: Path | None = None
    # What repro did on the way that the record should say (an image pulled by digest).
    notes: list[str] = field(default_factory=list)
    # Run in an image built from a lock older than its inputs (recorded in notes); else refused.
    allow_stale: bool = False

    def __post_init__(self) -> None:
        # Seeding needs a seed: a deterministic run without one records (and replays) 0.
        if self.deterministic and self.seed is None:
            self.seed = DEFAULT_SEED

    @classmethod
    def from_record(
        cls, record: RunRecord, root: Path, *, run_dir: Path | None = None
    ) -> RunRequest:
        """The request ``record`` stands for, its relative ``cwd`` taken from ``root``.

        The one reading of a record as a request: the queued record a cluster node runs
        (``run_dir``: that record's folder), the run a replay repeats, the job a cluster
        replay resubmits. ``--deterministic`` is known from the ``determinism`` section
        once a run started, and from the submission's ``scheduler`` entry before that.
        """
        cwd = Path(record.cwd)
        scheduler = record.scheduler or {}
        return cls(
            argv=list(record.argv),
            mode=_mode(record),
            seed=record.seed,
            replay_of=record.replay_of,
            mounts=list(record.mounts),
            cwd=cwd if cwd.is_absolute() else root / cwd,
            deterministic=record.determinism is not None or bool(scheduler.get("deterministic")),
            run_dir=run_dir,
        )


def _mode(record: RunRecord) -> RunMode:
    """The record's mode, one a run can have (a hand-edited record may say anything)."""
    for mode in get_args(RunMode):
        if record.mode == mode:
            return mode  # type: ignore[no-any-return]  # get_args of a Literal: its values
    raise DamagedRecord(f"mode is {record.mode!r}, not one of {', '.join(get_args(RunMode))}")
