"""End to end on a real engine: init, lock, build, run, replay (image kept, then rebuilt),
and a tampered lock that makes the replay refuse. Only the repro CLI is used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from paths import TESTS
from projects import git
from reprostack.record.diff import diff_fingerprints
from reprostack.record.store import list_run_ids

pytestmark = pytest.mark.engine

WHEELS = TESTS / "image_cases" / "scripts" / "wheels"
TRAIN = """\
import json, os, random
from pathlib import Path
import alpha
rng = random.Random(int(os.environ["REPRO_SEED"]))
weights = [round(rng.gauss(0, 1), 12) for _ in range(16)]
out = Path(os.environ["REPRO_OUTPUT_DIR"])
(out / "checkpoint.json").write_text(json.dumps({"alpha": alpha.VERSION, "w": weights}))
(out / "metrics.json").write_text(json.dumps({"loss": sum(w * w for w in weights)}))
print("trained with alpha", alpha.VERSION, "code", Path("VERSION").read_text().strip())
"""
CONFIG = """\
name: e2e
python: "3.11"
cuda: "none"
base_image: local/debian-python:bookworm
lock:
  tool: uv
  inputs: [requirements.in]
run:
  mode: dev
"""


def repro(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reprostack", *args], cwd=project,
                          capture_output=True, text=True, check=False, timeout=600)  # fmt: skip


def runs(project: Path) -> list[str]:
    """Run ids, oldest first by true start time (ids of one second sort by a random suffix)."""
    return list(reversed(list_run_ids(project / "runs")))


def fingerprint(project: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "runs" / run_id / "fingerprint.json").read_text())
    return data


def test_init_lock_build_run_replay_rebuild_and_refuse(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project = tmp_path / "e2e"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    init = repro(project, "init")
    assert init.returncode == 0, init.stderr
    (project / "repro.yaml").write_text(CONFIG)
    (project / "requirements.in").write_text("--no-index\n--find-links wheels\nalpha\n")
    (project / "requirements-dev.in").unlink()
    shutil.copytree(WHEELS, project / "wheels")
    (project / "train.py").write_text(TRAIN)
    (project / "VERSION").write_text("first\n")
    locked = repro(project, "lock")
    assert locked.returncode == 0, locked.stderr
    assert "lockfiles/prod.txt: 1 packages resolved with uv" in locked.stderr
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")

    # `repro run --dev` builds the missing image itself, then runs in it.
    first = repro(project, "run", "--seed", "3", "train.py")
    assert first.returncode == 0, first.stderr
    assert first.stdout.endswith("trained with alpha 1.0.0 code first\n")
    original = runs(project)[0]
    record = yaml.safe_load((project / "runs" / original / "run.yaml").read_text())
    assert record["mode"] == "dev"
    image_id = record["image"]["id"]
    assert record["image"]["digest"] is None  # until pushed to a registry
    assert record["image"]["tag"].startswith("localhost/repro-e2e:dev-")

    # The project moves on: a new commit and a dirty tree.
    (project / "VERSION").write_text("second\n")
    git(project, "commit", "-q", "-am", "second")
    (project / "train.py").write_text("raise SystemExit('new code must not run')\n")

    replay = repro(project, "replay", original)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.endswith("trained with alpha 1.0.0 code first\n")
    assert "outputs: all 2 files byte-identical" in replay.stderr
    replayed = runs(project)[-1]
    diff = diff_fingerprints(fingerprint(project, original), fingerprint(project, replayed))
    assert set(diff.changes) <= {"git"}, diff.changes  # packages, python, cuda, image: equal
    assert diff.changes.get("git", []) in ([], ["git.branch: main -> null"])

    # Rebuild path: the recorded image is gone, the replay rebuilds from runs/<id>/env/.
    docker_client.images.remove(image_id, force=True)
    rebuilt = repro(project, "replay", original)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "outputs: all 2 files byte-identical" in rebuilt.stderr
    again = runs(project)[-1]
    assert fingerprint(project, again)["packages"] == fingerprint(project, original)["packages"]

    # A tampered recorded lock: the replay refuses (exit 1) and records nothing.
    lock = project / "runs" / original / "env" / "lockfiles" / "prod.txt"
    lock.write_text(lock.read_text().replace("alpha==1.0.0", "alpha==1.0.1"))
    before = runs(project)
    refused = repro(project, "replay", "--rebuild", original)
    assert refused.returncode == 1, refused.stderr
    assert "edited by hand" in refused.stderr
    assert runs(project) == before
    # None of this project's runs left a container (the engine may hold other suites' ones).
    mine = set(runs(project))
    left = docker_client.containers.list(all=True, filters={"label": "dev.reprostack.run"})
    assert [c.id for c in left if c.labels.get("dev.reprostack.run") in mine] == []
    assert os.path.exists(project / "runs" / original / "run.yaml")
