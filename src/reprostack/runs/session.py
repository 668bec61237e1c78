"""The life of one run record: create it, fill it before the command starts, close it.

Every mode (local, dev, prod) goes through a RunSession so that all runs have the same files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprostack import __version__
from reprostack.atomic import write_bytes
from reprostack.config import CONFIG_NAME, Config
from reprostack.errors import ReproError, RunFailedToStart
from reprostack.fingerprint.collect import lockfile_hashes
from reprostack.fingerprint.project import project_fingerprint
from reprostack.redact import redact_argv
from reprostack.runs.configs import capture_configs
from reprostack.runs.ids import allocate_run_dir
from reprostack.runs.record import RunRecord, utc_now, write_fingerprint, write_record

PATCH_FILE = "source.patch"
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
    cwd: Path = field(default_factory=Path.cwd)


class RunSession:
    """One ``runs/<id>/`` folder from allocation to the final status."""

    def __init__(self, config: Config, request: RunRequest) -> None:
        self.config = config
        self.request = request
        self.run_id, self.folder = allocate_run_dir(config.runs_dir)
        self.outputs = self.folder / "outputs"
        self.outputs.mkdir()
        self.record = RunRecord(
            id=self.run_id,
            argv=redact_argv(request.argv),
            mode=request.mode,
            seed=request.seed,
            replay_of=request.replay_of,
            cwd=_relative_cwd(config.root, request.cwd),
            host=os.uname().nodename,
            mounts=list(request.mounts),
            config_sha256=config.sha256 or None,
            reprostack_version=__version__,
        )
        # Written at once: even a crash in the next step leaves a record saying what was asked.
        write_record(self.folder, self.record)

    def run_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment the command gets: repro.yaml's env, then the REPRO_* variables."""
        env = dict(base)
        env.update(self.config.env)
        env["REPRO_RUN_ID"] = self.run_id
        env["REPRO_RUN_DIR"] = str(self.folder)
        env["REPRO_OUTPUT_DIR"] = str(self.outputs)
        if self.request.seed is not None:
            env["REPRO_SEED"] = str(self.request.seed)
            # Hash randomisation is the one source of nondeterminism Python itself adds.
            env.setdefault("PYTHONHASHSEED", str(self.request.seed))
        return env

    @contextmanager
    def before_start(self, what: str) -> Iterator[None]:
        """Record any failure inside the block as the run's error and raise RunFailedToStart.

        ``what`` prefixes errors that are not repro's own (``could not record the run: ...``).
        """
        try:
            yield
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
        write_bytes(self.folder / PATCH_FILE, state.patch)
        write_fingerprint(self.folder, adjust(host_fp) if adjust else host_fp)
        self._copy_env_files()
        self.record.configs = capture_configs(
            self.request.argv, self.request.cwd, self.folder / "config"
        )
        self.record.lock_hashes = lockfile_hashes(self.config.root)
        self.record.git_sha = state.info["sha"] if state.info else None
        self.record.dirty = bool(state.info and state.info["dirty"])
        write_record(self.folder, self.record)

    def started(self, command: list[str], image: dict[str, Any] | None = None) -> None:
        """Record the exact command (and image) the moment it starts."""
        self.record.command = redact_argv(command)
        self.record.image = image
        write_record(self.folder, self.record)

    def finish(self, exit_code: int, interrupted: bool = False) -> RunRecord:
        """Close the record with the command's exit code."""
        if interrupted:
            self.record.status = "interrupted"
        else:
            self.record.status = "succeeded" if exit_code == 0 else "failed"
        self.record.exit_code = exit_code
        self.record.ended_at = utc_now()
        write_record(self.folder, self.record)
        return self.record

    def fail_before_start(self, message: str) -> RunRecord:
        """Close the record of a run whose command never started (exit 125, as docker run)."""
        self.record.status = "failed"
        self.record.exit_code = None
        self.record.error = message
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


def _relative_cwd(root: Path, cwd: Path) -> str:
    try:
        return cwd.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return os.fspath(cwd.resolve())
