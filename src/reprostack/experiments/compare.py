"""``repro compare A B …``: params that differ, metrics (last and best), then the stack.

One screen: a column per run; the stack part is ``repro diff``'s groups, each run against
the first one named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reprostack.experiments.metrics import best, lower_is_better
from reprostack.experiments.params import differing, redact_params
from reprostack.experiments.render import number, table_text
from reprostack.experiments.table import json_safe, metric_names
from reprostack.record.diff import diff_fingerprints
from reprostack.record.run import RunRecord


@dataclass
class Comparison:
    """Everything ``repro compare`` shows, as data (``--json`` prints exactly this)."""

    runs: list[str]
    params: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Stable keys: runs, params, metrics, stack, notes (NaN/inf as strings)."""
        data = {
            "runs": self.runs,
            "params": self.params,
            "metrics": self.metrics,
            "stack": self.stack,
            "notes": self.notes,
        }
        result: dict[str, Any] = json_safe(data)
        return result


def compare_runs(
    records: list[RunRecord], fingerprints: Sequence[Mapping[str, Any] | None]
) -> Comparison:
    """Compare runs; ``fingerprints[i]`` is None when run i's fingerprint could not be read."""
    result = Comparison(runs=[r.id for r in records])
    # Judged again here: a record written before a secret's shape was known may still hold it.
    shown = [redact_params(dict(r.params or {})) for r in records]
    for key in differing(shown):
        result.params[key] = [params.get(key) for params in shown]
    for name in metric_names(records):
        entries = [(r.metrics or {}).get(name) or {} for r in records]
        bests = [best(name, e) if e else None for e in entries]
        result.metrics[name] = {
            "goal": "min" if lower_is_better(name) else "max",
            "last": [e.get("last") for e in entries],
            "best": bests,
            "best_run": _winner(result.runs, bests, lower_is_better(name)),
        }
    first = fingerprints[0]
    for record, fingerprint in zip(records[1:], fingerprints[1:], strict=True):
        if first is None or fingerprint is None:
            result.notes.append(f"{record.id}: stack not compared (fingerprint.json unreadable)")
            continue
        result.stack[record.id] = diff_fingerprints(first, fingerprint).changes
    for record in records:
        result.notes += [f"{record.id}: {word}" for word in record.params_skipped]
        result.notes += [f"{record.id}: {word}" for word in record.metrics_problems]
    return result


def _winner(runs: list[str], values: list[float | None], lower: bool) -> str | None:
    """The run with the best value; a tie goes to the run named first."""
    winner: tuple[float, str] | None = None
    for value, run in zip(values, runs, strict=True):
        if value is None or not math.isfinite(value):
            continue
        if winner is None or (value < winner[0] if lower else value > winner[0]):
            winner = (value, run)
    scored = sum(1 for v in values if v is not None and math.isfinite(v))
    return winner[1] if winner is not None and scored > 1 else None


def render_comparison(comparison: Comparison) -> str:
    """Text for the terminal: one table of params and metrics, then the stack groups."""
    runs = comparison.runs
    rows: list[list[str]] = []
    for key, values in comparison.params.items():
        rows.append([key, *(number(v) for v in values)])
    if comparison.params and comparison.metrics:
        rows.append(["", *("" for _ in runs)])
    for name, entry in comparison.metrics.items():
        rows.append([f"{name} (last)", *(number(v) for v in entry["last"])])
        marked = [
            number(v) + (" *" if run == entry["best_run"] else "")
            for v, run in zip(entry["best"], runs, strict=True)
        ]
        rows.append([f"{name} (best, {entry['goal']})", *marked])
    parts = []
    if rows:
        parts.append(table_text(["", *runs], rows, right=range(1, len(runs) + 1)))
    else:
        parts.append("no params differ and no metrics were recorded")
    if not comparison.params:
        parts.append("params: the same in every run")
    for run_id, groups in comparison.stack.items():
        if not groups:
            parts.append(f"stack: {run_id} is the same as {runs[0]}")
            continue
        lines = [f"stack: {runs[0]} -> {run_id}"]
        for group, changes in groups.items():
            lines.append(f"  {group}:")
            lines.extend(f"    {change}" for change in changes)
        parts.append("\n".join(lines))
    if comparison.notes:
        parts.append("\n".join(["notes:", *(f"  {note}" for note in comparison.notes)]))
    return "\n\n".join(parts)
