"""``repro plot``: metric curves of runs, one line per run, labelled by what differs.

``plot_data`` is pure (records and their series in, the lines to draw out), so the picture's
content is tested without pixels; ``draw`` hands it to matplotlib (``reprostack[plot]``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from reprostack.errors import EnvironmentMissing, UsageError
from reprostack.experiments.metrics import Series
from reprostack.experiments.params import differing, redact_params
from reprostack.experiments.render import number
from reprostack.record.run import RunRecord

FORMATS = (".png", ".svg", ".pdf")
MAX_PANELS = 6
MAX_LABEL_PARAMS = 3


def run_label(record: RunRecord, keys: list[str]) -> str:
    """``20261127-101500-ab12 (lr=0.1)``: the run id and the params that set it apart."""
    params = redact_params(dict(record.params or {}))  # a label is one more place a value goes
    shown = [f"{key}={number(params.get(key))}" for key in keys[:MAX_LABEL_PARAMS]]
    return f"{record.id} ({', '.join(shown)})" if shown else record.id


def plot_data(
    records: list[RunRecord], series: list[dict[str, Series]], metrics: list[str] | None = None
) -> dict[str, Any]:
    """``{"metrics": [...], "lines": {metric: [{run, label, steps, values}]}}``.

    Without ``metrics``, every metric any run has (up to six panels). Non-finite values are
    kept as None: a gap in the curve, never a line to infinity.
    """
    available = sorted({name for s in series for name in s})
    if not available:
        raise UsageError(
            "these runs recorded no metrics",
            hint="write metrics.jsonl with `from reprostack import log_metrics` "
            "(or TensorBoard events under outputs/)",
        )
    if metrics:
        unknown = [m for m in metrics if m not in available]
        if unknown:
            raise UsageError(
                f"no run has the metric {', '.join(unknown)}",
                hint=f"metrics of these runs: {', '.join(available)}",
            )
        chosen = list(dict.fromkeys(metrics))
    else:
        chosen = available[:MAX_PANELS]
    keys = differing([r.params or {} for r in records]) if len(records) > 1 else []
    lines: dict[str, list[dict[str, Any]]] = {}
    for name in chosen:
        lines[name] = [
            {
                "run": record.id,
                "label": run_label(record, keys),
                "steps": [step for step, _ in run_series[name]],
                "values": [v if math.isfinite(v) else None for _, v in run_series[name]],
            }
            for record, run_series in zip(records, series, strict=True)
            if name in run_series
        ]
    return {"metrics": chosen, "lines": lines}


def draw(data: dict[str, Any], out: Path) -> None:
    """Write the figure to ``out``; the format follows the suffix (PNG, SVG, PDF)."""
    if out.suffix.lower() not in FORMATS:
        raise UsageError(
            f"cannot draw {out.name}: the picture's format follows its suffix",
            hint=f"use one of {', '.join(FORMATS)}",
        )
    if not out.parent.is_dir():  # a typo in the path must not leave a tree of new folders
        raise UsageError(
            f"cannot write {out}: the folder {out.parent} does not exist",
            hint="create it first, or name a picture in an existing folder",
        )
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise EnvironmentMissing(
            "repro plot needs matplotlib, which is not installed",
            hint="pip install 'reprostack[plot]'",
        ) from exc
    names = data["metrics"]
    columns = 1 if len(names) == 1 else 2
    rows = math.ceil(len(names) / columns)
    # The object API (no pyplot): no GUI backend is chosen, nothing global changes.
    figure = Figure(figsize=(6.4 * columns, 4.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        for line in data["lines"][name]:
            values = [math.nan if v is None else v for v in line["values"]]
            marker = "o" if len(values) < 2 else None
            ax.plot(line["steps"], values, label=line["label"], marker=marker)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    # No creation date or version in the file: the same runs give the same picture.
    metadata: dict[str, Any] = {"Software": None}
    if out.suffix.lower() == ".svg":
        metadata = {"Date": None, "Creator": None}
    elif out.suffix.lower() == ".pdf":
        metadata = {"CreationDate": None, "Creator": None, "Producer": None}
    figure.savefig(out, dpi=110, metadata=metadata)
