"""The one protocol through which a feature records its part of a run.

A recorder owns one or more sections of the record (``record.sections`` names the owners).
The session calls every recorder in the order ``reprostack.runs.recorders`` lists them:
``before_start`` once the run folder exists and before the command starts (a failure there
fails the run before it started: exit 125, the reason in run.yaml), ``after_finish`` once
the command ended and its exit status is in the record (a failure there becomes a note: a
finished command's record is never lost to a recorder), and ``after_close`` once the closed
record is on disk, for what sends it elsewhere (a tracker). Recorders change the record and
the fingerprint in memory; the session writes both files, atomically, after each phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.config import Config
from reprostack.record.fingerprint import Fingerprint
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord


@dataclass
class RunContext:
    """What a recorder sees of one run."""

    config: Config
    request: RunRequest
    folder: Path
    record: RunRecord
    # The command's environment (the one its fingerprint describes).
    env: Mapping[str, str] = field(default_factory=dict)
    # Set by the stack recorder, the first; later recorders add their sections to it.
    fingerprint: Fingerprint | None = None
    # Where the command saw the host's paths, when not at the same place (a container's
    # mounts: its path -> the host's); empty when it ran on the host.
    seen_at: dict[str, str] = field(default_factory=dict)


class Recorder:
    """One feature's part of a run record. Override the phases the feature needs."""

    # Shown in notes when the recorder fails after the command, and in the docs' table.
    name = "recorder"

    def before_start(self, run: RunContext) -> None:
        """Record what must be known before the command starts."""

    def after_finish(self, run: RunContext) -> None:
        """Record what the finished command left (its exit status is in ``run.record``)."""

    def after_close(self, run: RunContext) -> None:
        """Send the closed record elsewhere (it is on disk, final but for this step)."""
