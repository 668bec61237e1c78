"""Shared helpers for the benchmarks: timing commands and printing ratios."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"


def wall(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Seconds one run of ``cmd`` takes, output discarded; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def median_wall(cmd: Sequence[str], runs: int = 7, **kwargs: object) -> float:
    """Median wall time over ``runs`` runs after one warm-up run."""
    wall(cmd, **kwargs)  # type: ignore[arg-type]
    return statistics.median(wall(cmd, **kwargs) for _ in range(runs))  # type: ignore[arg-type]


def report(name: str, value: float, goal: str, ok: bool, unit: str = "") -> None:
    """One result line: what, the figure, the goal, and whether it was met."""
    print(f"{name:<58} {value:8.3f}{unit:<3} goal {goal:<12} {'ok' if ok else 'MISSED'}")
    sys.stdout.flush()
