"""End to end on the real cluster, engine and registry: lock → build → push →
`repro run --slurm --prod` → `repro runs` shows it succeeded with the node's fingerprint →
`repro replay` resubmits it to Slurm by the same digest and the outputs match."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import remove_project_images, repro, wheel_project

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("slurm")]


@pytest.fixture()
def project(tmp_path: Path, registry: str, docker_client: Any) -> Iterator[Path]:
    name = f"cl-{uuid.uuid4().hex[:8]}"
    slurm = "cluster:\n  slurm:\n    runtime: docker\n"
    path = wheel_project(tmp_path / "p", name, f"registry: {registry}/tests\n{slurm}")
    try:
        yield path
    finally:
        remove_project_images(docker_client, f"localhost/repro-{name}")


def test_push_then_slurm_prod_run_then_replay_resubmits(project: Path, registry: str) -> None:
    pushed = repro(project, "push", "--prod")
    assert pushed.returncode == 0, pushed.stderr
    reference = pushed.stdout.strip()
    assert reference.startswith(f"{registry}/tests/repro-") and "@sha256:" in reference

    submitted = repro(project, "run", "--slurm", "--prod", "--seed", "7", "--wait", "train.py")
    assert submitted.returncode == 0, submitted.stderr
    assert "trained with alpha" in submitted.stdout
    run_id = submitted.stdout.split()[0]
    listed = repro(project, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert (entry["id"], entry["status"], entry["mode"]) == (run_id, "succeeded", "prod")
    assert entry["node"] == os.uname().nodename
    assert entry["scheduler"]["image"] == reference
    assert entry["scheduler"]["state"] == "COMPLETED"
    folder = project / "runs" / run_id
    fingerprint = json.loads((folder / "fingerprint.json").read_text())
    assert fingerprint["packages"]["alpha"]  # the image's packages, probed on the node
    assert fingerprint["hardware"]["logical_cores"] == os.cpu_count()  # the node's own
    assert fingerprint["container"]["image_digest"] == reference

    replayed = repro(project, "replay", run_id)
    assert replayed.returncode == 0, replayed.stderr
    new_id = replayed.stdout.split()[0]
    new = yaml.safe_load((project / "runs" / new_id / "run.yaml").read_text())
    assert new["replay_of"] == run_id
    assert new["scheduler"]["image"] == reference
    assert new["scheduler"]["job_id"] != entry["scheduler"]["job_id"]
    assert (project / "runs" / new_id / "outputs" / "checkpoint.json").read_bytes() == (
        folder / "outputs" / "checkpoint.json"
    ).read_bytes()
