"""The ``repro runs`` table: one row per run, the params that differ, each metric's last value.

Fed by the store's entries, so the store decides which records are read (only those shown);
a damaged record is a row of its own that says so, a ``running`` one whose process is gone
reads ``lost``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from reprostack.experiments.params import differing
from reprostack.experiments.render import number, short_name, table_text
from reprostack.record.run import RunRecord
from reprostack.record.store import RunEntry

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
    """Eight characters of the git sha, ``+`` when the tree was dirty, ``?`` when unknown."""
    mark = "?" if record.dirty == "unknown" else "+" if record.dirty else ""
    return (record.git_sha or "-")[:8] + mark


def metric_names(records: list[RunRecord]) -> list[str]:
    """Every metric any of the runs has, sorted."""
    return sorted({name for r in records for name in (r.metrics or {})})


def last_value(record: RunRecord, name: str) -> Any:
    """The last value of a metric in a record's summary, or None."""
    entry = (record.metrics or {}).get(name)
    return entry.get("last") if isinstance(entry, dict) else None


def job_text(record: RunRecord) -> str | None:
    """``slurm:12`` or ``slurm:12_3`` for a cluster run; None for a run on this machine."""
    scheduler = record.scheduler or {}
    if not scheduler.get("kind"):
        return None
    job = str(scheduler.get("job_id") or "?")
    if scheduler.get("array_index") is not None:
        job += f"_{scheduler['array_index']}"
    return f"{scheduler['kind']}:{job}"


def mode_text(record: RunRecord) -> str:
    """The mode, and the scheduler job for a cluster run (``prod slurm:12_3``)."""
    job = job_text(record)
    return f"{record.mode} {job}" if job else record.mode


def group_jobs(entries: list[RunEntry]) -> list[RunEntry]:
    """The tasks of one cluster job (an array) together, where the first of them is listed."""
    order: dict[str, int] = {}
    keyed = []
    for position, entry in enumerate(entries):
        scheduler = (entry.record.scheduler or {}) if entry.record else {}
        job = f"{scheduler.get('kind')}:{scheduler.get('job_id')}" if scheduler else None
        first = order.setdefault(job, position) if job else position
        index = scheduler.get("array_index") if scheduler else None
        keyed.append(((first, index if isinstance(index, int) else -1, position), entry))
    return [entry for _key, entry in sorted(keyed, key=lambda pair: pair[0])]


def runs_table(entries: list[RunEntry]) -> str:
    """The table ``repro runs`` prints; damaged records are named below it with the reason."""
    entries = group_jobs(entries)
    records = [e.record for e in entries if e.record is not None]
    params = differing([r.params or {} for r in records]) if len(records) > 1 else []
    metrics = metric_names(records)
    shown_params, shown_metrics = params[:MAX_COLUMNS], metrics[:MAX_COLUMNS]
    headers = [*BASE_HEADERS, *map(short_name, shown_params), *map(short_name, shown_metrics)]
    rows = []
    for entry in entries:
        r = entry.record
        if r is None:
            rows.append([entry.id, "-", entry.status, "", "-"] + [""] * (len(headers) - 5))
            continue
        # "<-": it read another run's outputs (`repro lineage RUN` shows which).
        shown_id = f"{r.id} <-" if r.inputs_from else r.id
        row = [shown_id, mode_text(r), entry.status, format_duration(duration_seconds(r)),
               commit_text(r)]  # fmt: skip
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
    if any(r.inputs_from for r in records):
        text += "\n(<-: read outputs of earlier runs; `repro lineage RUN` shows which)"
    for entry in entries:
        if entry.record is None:
            text += f"\n{entry.id}: damaged record: {entry.problem}"
        elif entry.scheduler_note:
            text += (
                f"\n{entry.id}: scheduler unreachable, {entry.status} as last recorded: "
                f"{entry.scheduler_note}"
            )
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


def runs_json(entries: list[RunEntry]) -> list[dict[str, Any]]:
    """``repro runs --json``: each record's keys, its listed status (``lost``, ``damaged``)
    and ``duration_s``; a damaged record is its id, status and problem. Valid JSON throughout.
    """
    out: list[dict[str, Any]] = []
    for entry in entries:
        r = entry.record
        if r is None:
            out.append({"id": entry.id, "status": entry.status, "problem": entry.problem})
            continue
        data = r.to_dict()
        data["status"] = entry.status
        data["duration_s"] = duration_seconds(r)
        if entry.scheduler_note:
            data["scheduler_unreachable"] = entry.scheduler_note
        out.append(json_safe(data))
    return out
