"""The ``repro runs`` table: one row per run, the params that differ, each metric's last value.

Fed by records already read, so the store decides which records are read (only those shown).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from reprostack.experiments.params import differing
from reprostack.experiments.render import number, table_text
from reprostack.runs.record import RunRecord

# Beyond this many param or metric columns the table stops being readable; --json has all.
MAX_COLUMNS = 6
BASE_HEADERS = ("id", "mode", "status", "duration", "commit")


def duration_seconds(record: RunRecord) -> float | None:
    """Seconds from start to end; None while running or when a time is missing."""
    if not record.started_at or not record.ended_at:
        return None
    try:
        start = datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(record.ended_at.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return max((end - start).total_seconds(), 0.0)


def format_duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``2h01m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def commit_text(record: RunRecord) -> str:
    """Eight characters of the git sha, ``+`` when the tree was dirty."""
    return (record.git_sha or "-")[:8] + ("+" if record.dirty else "")


def metric_names(records: list[RunRecord]) -> list[str]:
    """Every metric any of the runs has, sorted."""
    return sorted({name for r in records for name in (r.metrics or {})})


def last_value(record: RunRecord, name: str) -> Any:
    """The last value of a metric in a record's summary, or None."""
    entry = (record.metrics or {}).get(name)
    return entry.get("last") if isinstance(entry, dict) else None


def runs_table(records: list[RunRecord]) -> str:
    """The table ``repro runs`` prints."""
    params = differing([r.params or {} for r in records]) if len(records) > 1 else []
    metrics = metric_names(records)
    shown_params, shown_metrics = params[:MAX_COLUMNS], metrics[:MAX_COLUMNS]
    headers = [*BASE_HEADERS, *shown_params, *shown_metrics]
    rows = []
    for r in records:
        row = [r.id, r.mode, r.status, format_duration(duration_seconds(r)), commit_text(r)]
        row += [number((r.params or {}).get(key)) for key in shown_params]
        row += [number(last_value(r, name)) for name in shown_metrics]
        rows.append(row)
    numeric = [
        len(BASE_HEADERS) + index
        for index, key in enumerate(shown_params)
        if all(_is_number((r.params or {}).get(key)) for r in records)
    ]
    right = [3, *numeric, *range(len(BASE_HEADERS) + len(shown_params), len(headers))]
    text = table_text(headers, rows, right=right)
    hidden = (len(params) - len(shown_params)) + (len(metrics) - len(shown_metrics))
    if hidden:
        text += f"\n({hidden} more param/metric columns: `repro runs --json` has them all)"
    return text


def _is_number(value: Any) -> bool:
    """Numbers (and absent values) line up on the right; text on the left."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (not JSON) by the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return number(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def runs_json(records: list[RunRecord]) -> list[dict[str, Any]]:
    """``repro runs --json``: each record's keys, plus ``duration_s``; valid JSON throughout."""
    out = []
    for r in records:
        data = r.to_dict()
        data["duration_s"] = duration_seconds(r)
        out.append(json_safe(data))
    return out
