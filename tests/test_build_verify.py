"""`repro build --prod --verify`: two clean builds compared file by file."""

from __future__ import annotations

import shutil
import subprocess
import sys
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
