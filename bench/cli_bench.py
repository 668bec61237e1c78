"""Fingerprint, local-run overhead and CLI start-up against what a user would run instead.

- ``repro fingerprint --json`` vs ``python -m pip freeze`` in one environment holding 100+
  packages, torch included (goal: <= 0.5x pip freeze's wall time).
- ``repro run --local noop.py`` vs ``python noop.py``: added time, median of paired runs
  (goal: <= 150 ms).
- ``repro --help`` (goal: <= 150 ms).

The environment is a venv under .cache/bench, made once (torch's CPU wheel and an ML stack).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import CACHE, ROOT, median_wall, report, wall

ML_STACK = [
    "torch==2.13.0",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "pyyaml",
    "tqdm",
    "tensorboard",
    "pillow",
    "requests",
    "rich",
    "pytest",
    "hypothesis",
    "jupyterlab",
]


def bench_venv() -> Path:
    """A venv with reprostack and 100+ packages; built on first use."""
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ML_STACK], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)], check=True)
        marker.write_text("ok\n")
    return venv


def main() -> None:
    venv = bench_venv()
    python = str(venv / "bin" / "python")
    repro = str(venv / "bin" / "repro")
    count = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.count("\n")
    print(f"environment: {count} packages ({venv})")
    work = Path(tempfile.mkdtemp(prefix="repro-bench-"))
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "noop.py").write_text("pass\n")
    (work / "repro.yaml").write_text("name: bench\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null"}

    fp = median_wall([repro, "fingerprint", "--json"], cwd=work, env=env)
    freeze = median_wall([python, "-m", "pip", "freeze"], cwd=work, env=env)
    print(f"repro fingerprint --json {fp * 1000:.0f} ms; pip freeze {freeze * 1000:.0f} ms")
    report("fingerprint --json / pip freeze", fp / freeze, "<= 0.5x", fp / freeze <= 0.5, "x")

    added = []
    for _ in range(15):
        plain = wall([python, "noop.py"], cwd=work, env=env)
        recorded = wall([repro, "run", "--local", "noop.py"], cwd=work, env=env)
        added.append(recorded - plain)
    extra_ms = statistics.median(added) * 1000
    report(
        "repro run --local noop.py, added time (median)",
        extra_ms,
        "<= 150 ms",
        extra_ms <= 150,
        "ms",
    )

    help_ms = median_wall([repro, "--help"], cwd=work, env=env) * 1000
    report("repro --help", help_ms, "<= 150 ms", help_ms <= 150, "ms")


if __name__ == "__main__":
    main()
