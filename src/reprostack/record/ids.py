"""Run ids: ``YYYYMMDD-HHMMSS-xxxx`` (UTC start time plus a random suffix)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from reprostack.errors import RunFailedToStart

RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-z]{4}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(4))


def allocate_run_dir(runs_dir: Path, now: datetime | None = None) -> tuple[str, Path]:
    """Create and return a fresh ``(run_id, folder)`` under ``runs_dir``.

    Uniqueness comes from ``mkdir`` itself, which is atomic: a run starting in the same
    second that draws the same suffix gets ``FileExistsError`` and draws again. A runs folder
    that cannot hold a new run (a file, read-only, full) raises RunFailedToStart.
    """
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    try:
        if runs_dir.exists() and not runs_dir.is_dir():
            raise NotADirectoryError(20, "it is a file, not a folder", str(runs_dir))
        runs_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(1000):
            run_id = f"{stamp}-{_suffix()}"
            folder = runs_dir / run_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return run_id, folder
    except OSError as exc:
        raise RunFailedToStart(
            f"cannot record a run in {runs_dir}: {exc.strerror or exc}; nothing was run",
            hint="run.dir in repro.yaml must be a writable folder with free space",
        ) from exc
    raise RunFailedToStart(f"no free run id in {runs_dir} for {stamp}")  # 36**4 draws taken
