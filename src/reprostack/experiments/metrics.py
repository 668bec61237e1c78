"""Metrics a run wrote: ``metrics.jsonl``, ``metrics.json`` and TensorBoard event files.

Everything is read into one shape, ``{name: [(step, value), ...]}``, and summarised into the
record when the run ends (last, min, max, steps), so listing runs never re-reads event files.
A bad line is reported with its line number and the rest of the file is still read: one
hostile line (a 400-digit number, deep nesting) costs that line only.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from reprostack.experiments.bounded import as_float, check_size, loads_json
from reprostack.experiments.logger import METRICS_JSONL

METRICS_JSON = "metrics.json"
EVENTS_GLOB = "events.out.tfevents.*"
# Metrics whose names hold one of these are better when lower; every other one when higher.
_LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "rmse", "perplexity", "ppl", "wer", "cer")

# Metrics summarised into run.yaml: enough for any real run, small enough to read back.
MAX_SUMMARISED = 1000
# One line of metrics is a handful of numbers; a longer one is not read (and not kept).
MAX_LINE_BYTES = 64 * 1024

Series = list[tuple[int, float]]


@dataclass
class Metrics:
    """Every metric's points in step order, and what could not be read."""

    series: dict[str, Series] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, step: int, value: float) -> None:
        """Append one point."""
        self.series.setdefault(name, []).append((step, value))


def lower_is_better(name: str) -> bool:
    """Whether a metric is a cost (loss, error) rather than a score (accuracy)."""
    lowered = name.lower()
    return any(word in lowered for word in _LOWER_IS_BETTER)


def _number(value: Any) -> float | None:
    """A metric value as float; None for what is not a number (text, booleans, lists).

    An integer too large for a float raises ValueError: the line holding it is skipped.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return as_float(value)


def _flat_numbers(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``{"val": {"acc": 0.8}}`` -> ``("val/acc", 0.8)``: TensorBoard's way of naming.

    Callers read ``data`` with :func:`loads_json`, so its depth is bounded.
    """
    for key, value in data.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from _flat_numbers(value, name)
        else:
            number = _number(value)
            if number is not None:
                yield name, number


def _line_points(raw: bytes) -> tuple[int | None, list[tuple[str, float]]]:
    """The step and the named values of one line; ValueError saying why it is unusable."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"{len(raw)} bytes, more than a metrics line may hold")
    try:
        # Python's json reads NaN and Infinity, which json.dumps writes for them.
        line = loads_json(raw)
    except UnicodeDecodeError as exc:
        raise ValueError("not a JSON line (not UTF-8)") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON line ({exc.msg})") from exc
    except ValueError as exc:
        raise ValueError(f"not a JSON line ({exc})") from exc
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    step = line.pop("step", None)
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 2**63
    ):
        raise ValueError(f"step {_short(step)} is not an integer")
    return step, list(_flat_numbers(line))


def _bounded_lines(handle: BinaryIO) -> Iterator[bytes]:
    """Lines of at most MAX_LINE_BYTES + 1 bytes: the rest of a longer line is read past, never
    held, so one endless line costs no memory (its first part is refused as too long)."""
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        yield raw
        while not raw.endswith(b"\n") and len(raw) > MAX_LINE_BYTES:
            raw = handle.readline(MAX_LINE_BYTES + 1)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value < 10**20 else str(value)[:20] + "…"
    return text if len(text) <= 40 else text[:40] + "…"


def read_jsonl(path: Path, into: Metrics) -> None:
    """Read ``{"step": 3, "loss": 0.4}`` lines; a line without a step gets the next index.

    A line that cannot be read (not JSON, too deep, a number beyond a float, a bad step) is
    reported with its number and skipped; every other line is still read.
    """
    label = path.name
    counters: dict[str, int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(_bounded_lines(handle), start=1):
            if not raw.strip():
                continue
            try:
                step, points = _line_points(raw)
            except ValueError as exc:
                into.problems.append(f"{label}:{number}: {exc}; skipped")
                continue
            for name, value in points:
                at = counters.get(name, 0) if step is None else step
                counters[name] = at + 1
                into.add(name, at, value)


def read_final_json(path: Path, into: Metrics) -> None:
    """``metrics.json``: final values; used for names that ``metrics.jsonl`` does not have."""
    try:
        check_size(path.stat().st_size)
        data = loads_json(path.read_bytes())
        if not isinstance(data, dict):
            into.problems.append(f"{path.name}: not a JSON object; skipped")
            return
        values = list(_flat_numbers(data))
    except (OSError, ValueError) as exc:  # JSON, UTF-8 and size errors are ValueErrors
        into.problems.append(f"{path.name}: not readable as JSON ({exc}); skipped")
        return
    for name, value in values:
        if name not in into.series:
            into.add(name, 0, value)


def event_files(outputs: Path) -> list[Path]:
    """TensorBoard event files anywhere under ``outputs``, sorted."""
    return sorted(p for p in outputs.rglob(EVENTS_GLOB) if p.is_file())


def read_tensorboard(outputs: Path, files: list[Path], into: Metrics) -> None:
    """Scalars of every event file, with TensorBoard's own reader.

    Files in one folder share names (``loss``); with several folders (``tb/train``,
    ``tb/val``) names get the folder below their common parent (``train/loss``).
    """
    if importlib.util.find_spec("tensorboard") is None:
        into.problems.append(
            f"{len(files)} TensorBoard event file(s) not read: the reader is not installed "
            "(pip install 'reprostack[tensorboard]')"
        )
        return
    from reprostack.experiments.tensorboard import read_scalars

    folders = sorted({f.parent for f in files})
    common = folders[0] if len(folders) == 1 else Path(*_common_parts(folders))
    for folder in folders:
        prefix = folder.relative_to(common).as_posix() if folder != common else ""
        try:
            scalars = read_scalars(folder)
        except Exception as exc:  # a damaged event file must not lose the other metrics
            rel = folder.relative_to(outputs).as_posix() or "."
            into.problems.append(f"{rel}: TensorBoard events not readable ({exc}); skipped")
            continue
        if not scalars:
            # Damaged files read as empty too: say so rather than stay silent.
            rel = folder.relative_to(outputs).as_posix() or "."
            count = sum(1 for f in files if f.parent == folder)
            into.problems.append(f"{rel}: no scalars in {count} TensorBoard event file(s)")
        for tag, points in scalars.items():
            name = f"{prefix}/{tag}" if prefix else tag
            for step, value in points:
                into.add(name, step, value)


def _common_parts(folders: list[Path]) -> list[str]:
    parts: list[str] = []
    for group in zip(*(f.parts for f in folders), strict=False):
        if len(set(group)) != 1:
            break
        parts.append(group[0])
    return parts


def read_metrics(outputs: Path) -> Metrics:
    """All metrics under a run's ``outputs/`` folder, each series sorted by step."""
    result = Metrics()
    if not outputs.is_dir():
        return result
    jsonl = outputs / METRICS_JSONL
    if jsonl.is_file():
        read_jsonl(jsonl, result)
    files = event_files(outputs)
    if files:
        read_tensorboard(outputs, files, result)
    final = outputs / METRICS_JSON
    if final.is_file():
        read_final_json(final, result)
    for points in result.series.values():
        points.sort(key=lambda point: point[0])  # stable: equal steps keep their order
    return result


def summarise(
    series: dict[str, Series], problems: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{name: {last, min, max, steps, last_step}}``; min/max over finite values only.

    ``non_finite`` counts NaN/inf points, so a diverged run is visible at a glance. At most
    MAX_SUMMARISED metrics (the first by name): thousands of names from one run would make its
    run.yaml too big to read back; how many were left out goes into ``problems``.
    """
    summary: dict[str, dict[str, Any]] = {}
    names = sorted(series)
    if len(names) > MAX_SUMMARISED and problems is not None:
        problems.append(
            f"{len(names) - MAX_SUMMARISED} more metrics not summarised: a record keeps "
            f"{MAX_SUMMARISED} (outputs/ has them all)"
        )
    for name in names[:MAX_SUMMARISED]:
        points = series[name]
        finite = [value for _, value in points if math.isfinite(value)]
        entry: dict[str, Any] = {
            "last": points[-1][1],
            "min": min(finite) if finite else None,
            "max": max(finite) if finite else None,
            "steps": len(points),
            "last_step": points[-1][0],
        }
        if len(finite) != len(points):
            entry["non_finite"] = len(points) - len(finite)
        summary[name] = entry
    return summary


def best(name: str, entry: dict[str, Any]) -> float | None:
    """The best value of a summarised metric: min for costs, max for scores."""
    value = entry.get("min") if lower_is_better(name) else entry.get("max")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return as_float(value)
    except ValueError:  # a hand-edited record holding a 400-digit integer
        return None
