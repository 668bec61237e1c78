"""Fill a run record's experiment fields: params when it starts, metrics when it ends.

Nothing here may fail a run: a file that cannot be read becomes a word in the record.
"""

from __future__ import annotations

from pathlib import Path

from reprostack.experiments.metrics import read_metrics, summarise
from reprostack.experiments.params import collect_params
from reprostack.record.run import RunRecord


def capture_params(folder: Path, record: RunRecord) -> None:
    """Params from the run's ``config/`` copies and its ``key=value`` arguments."""
    params = collect_params(folder, record.configs, record.argv)
    record.params = params.values
    record.params_skipped = params.skipped


def capture_metrics(folder: Path, record: RunRecord) -> None:
    """Summaries (last, min, max, steps) of every metric under ``outputs/``."""
    try:
        metrics = read_metrics(folder / "outputs")
    except Exception as exc:  # an unreadable folder must not turn a finished run into a crash
        record.metrics = {}
        record.metrics_problems = [f"metrics not read: {exc}"]
        return
    record.metrics = summarise(metrics.series)
    record.metrics_problems = metrics.problems
