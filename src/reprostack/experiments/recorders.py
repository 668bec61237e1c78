"""The experiment recorders: params when a run starts, metrics and the tracker when it ends.

Nothing here may fail a finished run: a file that cannot be read becomes a word in the
record, and a tracker that is down a note that `repro sync` clears later.
"""

from __future__ import annotations

from reprostack.experiments.configs import capture_configs
from reprostack.experiments.metrics import read_metrics, summarise
from reprostack.experiments.params import collect_params
from reprostack.record.recorder import Recorder, RunContext

CONFIG_DIR = "config"


class ConfigsRecorder(Recorder):
    """Owns ``config/`` (copies of the config files the command names), run.yaml's
    ``configs``, and the params flattened from them and from ``key=value`` arguments."""

    name = "configs"

    def before_start(self, run: RunContext) -> None:
        record = run.record
        record.configs = capture_configs(run.request.argv, run.request.cwd, run.folder / CONFIG_DIR)
        params = collect_params(run.folder, record.configs, record.argv)
        record.params = params.values
        record.params_skipped = params.skipped


class MetricsRecorder(Recorder):
    """Owns ``metrics`` and ``metrics_problems``: a summary (last, min, max, steps) of every
    metric the command wrote under ``outputs/``."""

    name = "metrics"

    def after_finish(self, run: RunContext) -> None:
        record = run.record
        try:
            metrics = read_metrics(run.folder / "outputs")
        except Exception as exc:  # an unreadable folder must not turn a finished run into a crash
            record.metrics = {}
            record.metrics_problems = [f"metrics not read: {exc}"]
            return
        record.metrics = summarise(metrics.series, metrics.problems)
        record.metrics_problems = metrics.problems


class TrackingRecorder(Recorder):
    """Owns ``tracking``: the closed run sent to the tracker repro.yaml names (MLflow). A
    tracker that is down never fails the run; the record says so and `repro sync` retries.
    The tracking state is also written by `repro sync`, outside any run, so it is saved here
    by the tracker code itself."""

    name = "tracking"

    def after_close(self, run: RunContext) -> None:
        mlflow = run.config.tracking.mlflow
        if mlflow is None:
            return
        # The client is imported only now, after the command: never on a run's start path.
        from reprostack.experiments.tracking import after_run

        after_run(mlflow, run.folder, run.record)
