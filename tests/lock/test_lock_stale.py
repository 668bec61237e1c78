"""A build or a container run never uses a stale lock in silence (real lock, real engine)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from paths import TESTS
from projects import git, remove_project_images, repro, wheel_project

PACKAGE_WHEELS = TESTS / "image_cases" / "package" / "wheels"


@pytest.mark.engine
def test_a_stale_lock_is_refused_unless_allowed_and_then_recorded(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    name = f"stale-{uuid.uuid4().hex[:8]}"
    project = wheel_project(tmp_path / "p", name)
    try:
        # A package joins the inputs; nobody runs `repro lock`.
        shutil.copy2(next(PACKAGE_WHEELS.glob("beta-*.whl")), project / "wheels")
        (project / "requirements.in").write_text("--no-index\n--find-links wheels\nalpha\nbeta\n")
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "beta")
        check = repro(project, "lock", "--check")
        assert check.returncode == 1, check.stderr
        said = "lockfiles/prod.txt is stale: requirements.in changed"
        assert said in check.stderr

        for argv in (["build", "--prod"], ["build"], ["run", "--prod", "train.py"],
                     ["run", "--dev", "train.py"]):  # fmt: skip
            refused = repro(project, *argv)
            assert refused.returncode == 2, (argv, refused.stderr)
            assert refused.stderr.startswith(f"repro: error: {said}\n"), refused.stderr
            assert "run `repro lock`" in refused.stderr and "--allow-stale" in refused.stderr
            assert not (project / "runs").exists()

        built = repro(project, "build", "--prod", "--allow-stale")
        assert built.returncode == 0, built.stderr
        assert f"warning: used a stale lock (--allow-stale): {said}" in built.stderr
        ran = repro(project, "run", "--prod", "--allow-stale", "train.py")
        assert ran.returncode == 0, ran.stderr
        (run_dir,) = (project / "runs").iterdir()
        record = yaml.safe_load((run_dir / "run.yaml").read_text())
        assert f"used a stale lock (--allow-stale): {said}" in record["notes"]

        # Locked again, nothing is stale and nothing is said.
        assert repro(project, "lock").returncode == 0
        fresh = repro(project, "build", "--prod")
        assert fresh.returncode == 0, fresh.stderr
        assert "warning" not in fresh.stderr and "stale lock" not in fresh.stderr
    finally:
        remove_project_images(docker_client, f"localhost/repro-{name}")
