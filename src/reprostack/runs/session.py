"""The life of one run record: create it, fill it before the command starts, close it.

Every mode (local, dev, prod) goes through a RunSession so that all runs have the same files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprostack import __version__
from reprostack.atomic import write_bytes
from reprostack.config import CONFIG_NAME, Config
from reprostack.determinism import (
    DEFAULT_SEED,
    HOOK_DIR,
    REPORT_FILE,
    deterministic_env,
    planned,
    read_report,
    settle,
)
from reprostack.errors import ConfigError, ReproError, RunFailedToStart
from reprostack.experiments.capture import capture_metrics, capture_params
from reprostack.fingerprint.collect import lockfile_hashes
from reprostack.fingerprint.git import tracked_under
from reprostack.fingerprint.project import project_fingerprint
from reprostack.record.ids import allocate_run_dir
from reprostack.record.process import this_process
from reprostack.record.run import (
    RunRecord,
    iso_utc,
    read_fingerprint,
    read_record,
    utc_now,
    write_fingerprint,
    write_record,
)
from reprostack.redact import redact_argv, redact_text
from reprostack.runs.configs import capture_configs

if TYPE_CHECKING:
    from reprostack.data.followup import DataFollowUp

PATCH_FILE = "source.patch"
# Each changed submodule's own patch: submodules/<path from the repository top>.patch
SUBMODULE_PATCHES = "submodules"
# Files copied into env/ so a replay never depends on the working tree of that day.
ENV_GLOBS = (
    CONFIG_NAME,
    "lockfiles/*",
    "lockfiles/data/*",  # dataset manifests: replay and diff name the files that changed
    "dockerfiles/*",
    "requirements*.in",
    "requirements*.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
)


@dataclass
class RunRequest:
    """What the user asked to run, and how."""

    argv: list[str]
    mode: str = "local"
    seed: int | None = None
    replay_of: str | None = None
    mounts: list[str] = field(default_factory=list)
    # A replay runs in a detached worktree of the recorded commit: the branch it stands for
    # is the original run's, recorded as such (git itself would say none).
    branch: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    deterministic: bool = False
    # A run folder allocated earlier: a cluster job fills in the record its submission wrote.
    run_dir: Path | None = None
    # What repro did on the way that the record should say (an image pulled by digest).
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Seeding needs a seed: a deterministic run without one records (and replays) 0.
        if self.deterministic and self.seed is None:
            self.seed = DEFAULT_SEED


class RunSession:
    """One ``runs/<id>/`` folder from allocation to the final status."""

    def __init__(self, config: Config, request: RunRequest) -> None:
        self.config = config
        self.request = request
        _check_run_dir(config)
        # One instant for the id and started_at: runs in one second are ordered by the latter.
        now = datetime.now(timezone.utc)
        me = this_process()
        self._packages: list[str] = []
        self._data_follow_up: DataFollowUp | None = None  # every file's stat, during the run
        if request.run_dir is not None:
            self._adopt(request.run_dir, now, me)
            return
        self.run_id, self.folder = allocate_run_dir(config.runs_dir, now)
        self.outputs = self.folder / "outputs"
        self.record = RunRecord(
            id=self.run_id,
            argv=redact_argv(request.argv),
            mode=request.mode,
            started_at=iso_utc(now),
            seed=request.seed,
            replay_of=request.replay_of,
            cwd=_relative_cwd(config.root, request.cwd),
            host=me.host,
            pid=me.pid,
            boot_id=me.boot_id,
            process_start=me.start,
            mounts=list(request.mounts),
            config_sha256=config.sha256 or None,
            reprostack_version=__version__,
            notes=list(request.notes),
        )
        # Written at once: even a crash in the next step leaves a record saying what was asked.
        try:
            self.outputs.mkdir()
            write_record(self.folder, self.record)
        except OSError as exc:
            shutil.rmtree(self.folder, ignore_errors=True)  # no half record to mislead anyone
            raise RunFailedToStart(
                f"cannot write a run record in {self.folder}: {exc.strerror or exc}; "
                "nothing was run",
                hint="free some space in the runs folder (run.dir) or make it writable",
            ) from exc

    def _adopt(self, folder: Path, now: datetime, me: Any) -> None:
        """Take over a queued record (a cluster job on its node): this process now runs it."""
        self.folder = folder
        self.run_id = folder.name
        self.outputs = folder / "outputs"
        self.record = read_record(folder)
        self.record.status = "running"
        self.record.started_at = iso_utc(now)
        self.record.host, self.record.pid = me.host, me.pid
        self.record.boot_id, self.record.process_start = me.boot_id, me.start
        self.record.node = me.host
        self.outputs.mkdir(exist_ok=True)
        write_record(self.folder, self.record)

    def run_env(
        self, base: Mapping[str, str], *, hook_dir: str | None = None, run_dir: str | None = None
    ) -> dict[str, str]:
        """The environment the command gets: repro.yaml's env, then the REPRO_* variables.

        ``hook_dir`` and ``run_dir`` are where the command sees the determinism hook and the
        run folder (container paths in a container; the host's by default).
        """
        env = dict(base)
        env.update(self.config.env)
        env["REPRO_RUN_ID"] = self.run_id
        env["REPRO_RUN_DIR"] = str(self.folder)
        env["REPRO_OUTPUT_DIR"] = str(self.outputs)
        if self.request.seed is not None:
            env["REPRO_SEED"] = str(self.request.seed)
            # Hash randomisation is the one source of nondeterminism Python itself adds.
            env.setdefault("PYTHONHASHSEED", str(self.request.seed))
        if self.request.deterministic:
            assert self.request.seed is not None  # RunRequest gives a deterministic run one
            report = f"{run_dir or self.folder}/{REPORT_FILE}"
            env.update(deterministic_env(self.request.seed, env, report=report,
                                         hook_dir=hook_dir or str(HOOK_DIR)))  # fmt: skip
        return env

    @contextmanager
    def before_start(self, what: str) -> Iterator[None]:
        """Record any failure inside the block as the run's error and raise RunFailedToStart.

        ``what`` prefixes errors that are not repro's own (``could not record the run: ...``).
        """
        try:
            yield
        except RunInterrupted as exc:
            self.interrupted_before_start(exc.signum)
            raise
        except ReproError as exc:
            self.fail_before_start(exc.message)
            raise RunFailedToStart(exc.message, exc.hint) from exc
        except Exception as exc:  # the record must say why, whatever broke
            message = f"{what}: {exc}"
            self.fail_before_start(message)
            raise RunFailedToStart(message) from exc

    def prepare(
        self,
        run_env: Mapping[str, str],
        adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Record the fingerprint, the patch, env/ copies and config/ copies.

        ``adjust`` turns the host fingerprint into the run's (a container run merges in the
        image's facts), so the host is read once.
        """
        host_fp, state = project_fingerprint(self.config, run_env)
        git = host_fp.get("git")
        if self.request.branch and isinstance(git, dict) and git.get("branch") is None:
            host_fp["git"] = {**git, "branch": self.request.branch}
        write_bytes(self.folder / PATCH_FILE, state.patch)
        for path, patch in state.submodule_patches.items():
            write_bytes(self.folder / SUBMODULE_PATCHES / f"{path}.patch", patch)
        fingerprint = adjust(host_fp) if adjust else host_fp
        write_fingerprint(self.folder, fingerprint)
        if fingerprint.get("data"):
            from reprostack.data.followup import start_follow_up

            self._data_follow_up = start_follow_up(self.config, fingerprint["data"])
        self._packages = list(fingerprint.get("packages") or {})
        if self.request.deterministic and self.request.seed is not None:
            self.record.determinism = planned(self.request.seed, run_env)
        self._copy_env_files()
        self.record.configs = capture_configs(
            self.request.argv, self.request.cwd, self.folder / "config"
        )
        capture_params(self.folder, self.record)
        self.record.lock_hashes = lockfile_hashes(self.config.root)
        info = state.info or {}
        self.record.git_sha = info.get("sha")
        self.record.dirty = info.get("dirty", False)
        self.record.git_error = info.get("error")
        self.record.source_left_out = state.left_out
        write_record(self.folder, self.record)

    def started(self, command: list[str], image: dict[str, Any] | None = None) -> None:
        """Record the exact command (and image) the moment it starts."""
        self.record.command = redact_argv(command)
        self.record.image = image
        write_record(self.folder, self.record)

    def finish(self, exit_code: int, interrupted: bool = False) -> RunRecord:
        """Close the record with the command's exit code and its metrics' summary.

        Then the run goes to the tracker named in repro.yaml (its client is imported only
        now, after the command); a tracker problem is written down, never raised.
        """
        if interrupted:
            self.record.status = "interrupted"
        else:
            self.record.status = "succeeded" if exit_code == 0 else "failed"
        self.record.exit_code = exit_code
        self.record.ended_at = utc_now()
        if self.record.determinism is not None:
            entries = read_report(self.folder / REPORT_FILE)
            self.record.determinism = settle(self.record.determinism, entries, self._packages)
        capture_metrics(self.folder, self.record)
        self._settle_data_check()
        try:
            write_record(self.folder, self.record)
        except OSError as exc:
            raise RecordNotWritten(self.folder, exc, exit_code) from exc
        if self.config.tracking.mlflow is not None:
            from reprostack.experiments.tracking import after_run

            after_run(self.config.tracking.mlflow, self.folder, self.record)
        return self.record

    def _settle_data_check(self) -> None:
        """What the stat of every data file, taken while the command ran, found."""
        if self._data_follow_up is None:
            return
        with contextlib.suppress(OSError, ValueError):  # the quick check's facts then stand
            fingerprint = read_fingerprint(self.folder)
            fingerprint["data"] = self._data_follow_up.settle(fingerprint.get("data") or {})
            write_fingerprint(self.folder, fingerprint)

    def fail_before_start(self, message: str) -> RunRecord:
        """Close the record of a run whose command never started (exit 125, as docker run)."""
        self.record.status = "failed"
        self.record.exit_code = None
        self.record.error = redact_text(message)
        self.record.ended_at = utc_now()
        write_record(self.folder, self.record)
        return self.record

    def interrupted_before_start(self, signum: int) -> RunRecord:
        """Close the record of a run stopped by a signal before its command started."""
        name = signal.Signals(signum).name
        self.record.status = "interrupted"
        self.record.exit_code = None
        self.record.signals.append(name)
        self.record.error = f"interrupted by {name} before the command started"
        self.record.ended_at = utc_now()
        write_record(self.folder, self.record)
        return self.record

    def _copy_env_files(self) -> None:
        dest = self.folder / "env"
        for pattern in ENV_GLOBS:
            for path in sorted(self.config.root.glob(pattern)):
                if path.is_file():
                    target = dest / path.relative_to(self.config.root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)


class RecordNotWritten(ReproError):
    """The command ran but its final record could not be written; exits with its code."""

    def __init__(self, folder: Path, error: OSError, exit_code: int) -> None:
        super().__init__(
            f"the command ended (exit {exit_code}) but {folder / 'run.yaml'} could not be "
            f"updated: {error.strerror or error}; `repro runs` will show it as lost",
            hint="free space or fix the runs folder; stdout.log and stderr.log hold the output",
        )
        self.exit_code = exit_code


class RunInterrupted(BaseException):
    """A signal stopped repro before the command started (a BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process killed by it."""
        return 128 + self.signum


def _check_run_dir(config: Config) -> None:
    """run.dir must hold no code: its files are left out of every patch."""
    tracked = tracked_under(config.root, config.runs_dir)
    if tracked:
        shown = ", ".join(tracked[:3]) + (" ..." if len(tracked) > 3 else "")
        raise ConfigError(
            [
                f"{CONFIG_NAME}: run.dir: '{config.run.dir}' holds files tracked by git "
                f"({shown}); runs would leave that code out of their record"
            ],
            hint="set run.dir to a folder of its own, such as 'runs', and git-ignore it",
        )


def _relative_cwd(root: Path, cwd: Path) -> str:
    try:
        return cwd.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return os.fspath(cwd.resolve())
