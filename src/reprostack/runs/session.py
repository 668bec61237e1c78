"""The life of one run record: the folder, the order of the recorders' phases, the writes.

Every place a command runs (the host, a container, a launcher on a cluster node) goes through
a RunSession, so that all runs have the same files. What goes into the record is the
recorders' business (``runs.recorders`` lists them); the session allocates the folder, calls
the recorders' phases in order and writes run.yaml and fingerprint.json after each.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reprostack import __version__
from reprostack.config import CONFIG_NAME, Config
from reprostack.determinism import HOOK_DIR, REPORT_FILE, deterministic_env
from reprostack.errors import ConfigError, ReproError, RunFailedToStart
from reprostack.fingerprint.git import tracked_under
from reprostack.inputs import LOG_NAME, capture_on, inputs_env
from reprostack.record.ids import allocate_run_dir
from reprostack.record.process import this_process
from reprostack.record.recorder import Recorder, RunContext
from reprostack.record.request import RunRequest
from reprostack.record.run import (
    RunRecord,
    iso_utc,
    read_record,
    utc_now,
    write_fingerprint,
    write_record,
)
from reprostack.record.sections import ImageSection
from reprostack.redact import redact_argv, redact_text

# What repro exits with when the command started and how it ended is unknown (its engine
# went away), as ssh does for a lost link; 125 stays for failures before the command.
LOST_EXIT = 255


class RunSession:
    """One ``runs/<id>/`` folder from allocation to the final status."""

    def __init__(
        self, config: Config, request: RunRequest, recorders: Sequence[Recorder] = ()
    ) -> None:
        self.config = config
        self.request = request
        self.recorders = list(recorders)
        _check_run_dir(config)
        # One instant for the id and started_at: runs in one second are ordered by the latter.
        now = datetime.now(timezone.utc)
        me = this_process()
        self._written_fingerprint: str | None = None
        if request.run_dir is not None:
            self._adopt(request.run_dir, now, me)
        else:
            self._allocate(now, me)
        self.context = RunContext(config, request, self.folder, self.record)

    def _allocate(self, now: datetime, me: Any) -> None:
        """A new folder and its first record, saying what was asked."""
        config, request = self.config, self.request
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
        if capture_on(self.config):
            log = f"{run_dir or self.folder}/{LOG_NAME}"
            env.update(inputs_env(env, hook_dir=hook_dir, log=log))
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

    def prepare(self, run_env: Mapping[str, str]) -> None:
        """Run every recorder's ``before_start``, then write the fingerprint.

        run.yaml is written next when the command starts (``started``), or when it cannot
        (``fail_before_start``, ``interrupted_before_start``): one fsync'd write fewer on
        every run's start, and no state in which the record says less than those do.
        """
        self.context.env = run_env
        for recorder in self.recorders:
            recorder.before_start(self.context)
        self._write_fingerprint()

    def started(self, command: list[str], image: ImageSection | None = None) -> None:
        """Record the exact command (and image) the moment it starts."""
        self.record.command = redact_argv(command)
        self.record.image = image
        # Not waited onto the disk: the command is starting, and the record's end is.
        write_record(self.folder, self.record, durable=False)

    def finish(
        self, exit_code: int | None, interrupted: bool = False, error: str | None = None
    ) -> RunRecord:
        """Close the record with the command's exit code and every recorder's last word.

        ``exit_code`` None: the command ran but its end was not seen (``error`` says why).
        A recorder that fails now costs a note, never the record of a command that ran;
        a record that cannot be written raises RecordNotWritten (the command's code kept).
        """
        if interrupted:
            self.record.status = "interrupted"
        else:
            self.record.status = "succeeded" if exit_code == 0 else "failed"
        self.record.exit_code = exit_code
        if error is not None:
            self.record.error = redact_text(error)
        self.record.ended_at = utc_now()
        self._each("after_finish")
        try:
            with contextlib.suppress(OSError):  # the record below says more than the facts
                self._write_fingerprint()
            write_record(self.folder, self.record)
        except OSError as exc:
            code = LOST_EXIT if exit_code is None else exit_code
            raise RecordNotWritten(self.folder, exc, code) from exc
        if self._each("after_close"):
            with contextlib.suppress(OSError):  # the closed record above stands
                write_record(self.folder, self.record)
        return self.record

    def _each(self, phase: str) -> bool:
        """Call ``phase`` of every recorder after the command; True when a note was added."""
        noted = False
        for recorder in self.recorders:
            try:
                getattr(recorder, phase)(self.context)
            except Exception as exc:  # the command ran: its record must survive any recorder
                self.record.notes.append(f"{recorder.name}: not recorded: {redact_text(str(exc))}")
                noted = True
        return noted

    def _write_fingerprint(self) -> None:
        """Write fingerprint.json when a recorder gave one and it changed since it was written."""
        fingerprint = self.context.fingerprint
        if fingerprint is None:
            return
        text = json.dumps(fingerprint, sort_keys=True)
        if text != self._written_fingerprint:
            write_fingerprint(self.folder, fingerprint)
            self._written_fingerprint = text

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
