"""`repro build --prod --verify`: two clean builds compared file by file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from projects import git
from reprostack.image.verify import compare_filesystems

CASE = Path(__file__).parent / "image_cases" / "scripts"


def test_compare_names_every_difference() -> None:
    a = {
        "etc/x": ("file", 0o644, 0, 0, "aa"),
        "bin/y": ("link", 0o777, 0, 0, "z"),
        "d": ("dir", 0o755, 0, 0, ""),
    }
    b = {
        "etc/x": ("file", 0o600, 0, 0, "aa"),
        "bin/y": ("link", 0o777, 0, 0, "z"),
        "new": ("file", 0o644, 0, 0, "bb"),
    }
    assert compare_filesystems(a, b) == ["d", "etc/x", "new"]
    assert compare_filesystems(a, a) == []


@pytest.mark.engine
def test_two_clean_prod_builds_are_identical(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project = tmp_path / "verify"
    shutil.copytree(CASE, project)
    # A system package runs apt, dpkg and ldconfig: their logs, caches and aux-cache must not
    # make the two builds differ.
    # A name of its own: the engine is shared, and other builds of the case must not count.
    name = f"verify-{uuid.uuid4().hex[:8]}"
    config = (project / "repro.yaml").read_text().replace("name: case-scripts", f"name: {name}")
    (project / "repro.yaml").write_text(config + "system_packages: [libgomp1]\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(
        project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "case"
    )
    result = subprocess.run(
        [sys.executable, "-m", "reprostack", "build", "--prod", "--verify"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reproducible: " in result.stderr
    assert "paths identical in two clean builds" in result.stderr
    assert "differs:" not in result.stdout
    assert "AS builder" not in (project / "dockerfiles" / "Dockerfile.prod").read_text()
    # The two verification builds were throw-away: untagged and removed. Only the tagged
    # image of the build itself is left, and the tags point at it.
    ours = docker_client.images.list(
        filters={"label": [f"org.opencontainers.image.title=localhost/repro-{name}",
                           "dev.reprostack.variant=prod"]}
    )  # fmt: skip
    tag = result.stdout.split()[0]
    assert [image.tags for image in ours if not image.tags] == []
    latest = docker_client.images.get(tag.rsplit(":", 1)[0] + ":prod-latest")
    assert latest.id == docker_client.images.get(tag).id
    for image in ours:
        docker_client.images.remove(image.id, force=True)
