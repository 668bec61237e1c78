"""``repro replay`` with the image present vs the original ``repro run --dev``.

Goal: the replay adds <= 1 s (restoring the code in a worktree, the environment check in the
image, the output comparison). Needs a Docker engine (DOCKER_HOST) and the local base image
``local/debian-python:bookworm`` (``ci/engine.sh start``, ``ci/base-image.sh``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, report

WHEELS = ROOT / "tests" / "image_cases" / "scripts" / "wheels"
CONFIG = """\
name: bench-replay
python: "3.11"
cuda: "none"
base_image: local/debian-python:bookworm
lock:
  tool: uv
  inputs: [requirements.in]
run:
  mode: dev
"""
TRAIN = """\
import json, os, random
from pathlib import Path
import alpha
rng = random.Random(int(os.environ.get("REPRO_SEED", "0")))
out = Path(os.environ["REPRO_OUTPUT_DIR"])
(out / "checkpoint.json").write_text(json.dumps([rng.random() for _ in range(1000)]))
"""


def repro(project: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reprostack", *args],
        cwd=project,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="repro-bench-replay-"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    (project / "repro.yaml").write_text(CONFIG)
    (project / "requirements.in").write_text("--no-index\n--find-links wheels\nalpha\n")
    (project / "train.py").write_text(TRAIN)
    (project / ".gitignore").write_text("/runs/\n")
    shutil.copytree(WHEELS, project / "wheels")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    repro(project, "lock")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=project, check=True, env=env)
    repro(project, "run", "--seed", "1", "train.py")  # builds the image once
    runs, replays = [], []
    for _ in range(5):
        runs.append(repro(project, "run", "--seed", "1", "train.py"))
        replays.append(repro(project, "replay", "last"))
    run_s, replay_s = statistics.median(runs), statistics.median(replays)
    print(f"repro run --dev {run_s:.2f} s; repro replay (image present) {replay_s:.2f} s")
    added = replay_s - run_s
    report("repro replay - repro run, added time (median)", added, "<= 1 s", added <= 1.0, "s")
    shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
