"""The data recorder: the ``data`` section of ``fingerprint.json``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from reprostack.record.recorder import Recorder, RunContext

if TYPE_CHECKING:
    from reprostack.data.followup import DataFollowUp


class DataRecorder(Recorder):
    """Owns the fingerprint's ``data``: each dataset of repro.yaml, checked at run start (a
    stat-level check, never a rehash) and then every file's stat while the command runs."""

    name = "data"

    def __init__(self) -> None:
        self._follow_up: DataFollowUp | None = None

    def before_start(self, run: RunContext) -> None:
        if not run.config.data or run.fingerprint is None:
            return
        # Loaded only for a project with data: most runs never pay for the walkers.
        from reprostack.data.check import data_fingerprint
        from reprostack.data.followup import start_follow_up

        facts = data_fingerprint(run.config)  # a missing dataset raises: the run needs it
        run.fingerprint["data"] = facts
        self._follow_up = start_follow_up(run.config, facts)

    def after_finish(self, run: RunContext) -> None:
        if self._follow_up is None or run.fingerprint is None:
            return
        with contextlib.suppress(OSError, ValueError):  # the run-start facts then stand
            run.fingerprint["data"] = self._follow_up.settle(run.fingerprint.get("data") or {})
