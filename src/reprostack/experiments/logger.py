"""``log_metrics``: the one call a training script needs to report metrics to repro.

Only the standard library is imported here: the helper runs inside training scripts, often in
images where nothing but reprostack's wheel is installed, and must cost nothing at import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRICS_JSONL = "metrics.jsonl"


def metrics_path() -> Path:
    """Where metrics go: ``$REPRO_OUTPUT_DIR/metrics.jsonl`` (``outputs/`` outside repro)."""
    return Path(os.environ.get("REPRO_OUTPUT_DIR", "outputs")) / METRICS_JSONL


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Append one line ``{"step": step, name: value, ...}`` to the run's ``metrics.jsonl``.

    Values may be Python numbers or anything with ``.item()`` (NumPy scalars, 0-d tensors).
    Each call writes one whole line with one ``write``, so a crash never leaves half a line
    and several processes may log to one file.
    """
    line: dict[str, Any] = {} if step is None else {"step": int(step)}
    for name, value in metrics.items():
        if name == "step":
            raise ValueError("'step' is the step argument of log_metrics, not a metric name")
        item = getattr(value, "item", None)
        line[str(name)] = float(item() if callable(item) else value)
    path = metrics_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
