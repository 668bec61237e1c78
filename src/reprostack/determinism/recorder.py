"""The determinism recorder: run.yaml's ``determinism`` section."""

from __future__ import annotations

from reprostack.determinism import REPORT_FILE, planned, read_report, settle
from reprostack.record.recorder import Recorder, RunContext


class DeterminismRecorder(Recorder):
    """Owns ``determinism``: what ``--deterministic`` set before the command, then what the
    start-up hook reported applying (never a seed the hook did not report)."""

    name = "determinism"

    def before_start(self, run: RunContext) -> None:
        if run.request.deterministic and run.request.seed is not None:
            run.record.determinism = planned(run.request.seed, run.env)

    def after_finish(self, run: RunContext) -> None:
        if run.record.determinism is None:
            return
        entries = read_report(run.folder / REPORT_FILE)
        packages = list(run.fingerprint["packages"]) if run.fingerprint else []
        run.record.determinism = settle(run.record.determinism, entries, packages)
