"""reprostack's own repository is a reprostack project: its locks and Dockerfiles stay fresh.

Both checks are hermetic: `repro lock --check` compares the lock headers with the inputs'
hashes and asks no index while they match, and `repro dockerfile` is a pure render. So a
change to pyproject.toml fails here, offline, until `repro lock && repro dockerfile` is run
at the repository's top and the result committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from paths import ROOT
from projects import repro_in_process

# What rendering reads: the config, the inputs the locks name, the locks, the Dockerfiles.
RENDER_INPUTS = ("repro.yaml", "pyproject.toml", "lockfiles", "dockerfiles")


def test_the_repository_is_a_reprostack_project() -> None:
    result = repro_in_process(ROOT, "lock", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lockfiles/prod.txt is up to date" in result.stderr
    assert "lockfiles/dev.txt is up to date" in result.stderr


def test_committed_dockerfiles_are_what_repro_dockerfile_renders(tmp_path: Path) -> None:
    # Rendered in a copy so that a stale file fails the test instead of being rewritten.
    for name in RENDER_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy2(source, tmp_path / name)
    result = repro_in_process(tmp_path, "dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged dockerfiles/Dockerfile.dev" in result.stderr
    assert "unchanged dockerfiles/Dockerfile.prod" in result.stderr
    for variant in ("dev", "prod"):
        committed = (ROOT / "dockerfiles" / f"Dockerfile.{variant}").read_bytes()
        assert (tmp_path / "dockerfiles" / f"Dockerfile.{variant}").read_bytes() == committed


def test_no_index_host_but_the_public_one_in_the_committed_locks() -> None:
    # A lock is resolved with the user's pip configuration ignored: only the inputs' indexes
    # (none here: PyPI) may be named, never a mirror of the machine that ran `repro lock`.
    for lock in sorted((ROOT / "lockfiles").glob("*.txt")):
        indexes = [line for line in lock.read_text().splitlines() if line.startswith("# index:")]
        assert indexes == ["# index: https://pypi.org/simple"], lock
        assert "--index-url" not in lock.read_text()
        assert "--find-links" not in lock.read_text()
