"""Git facts on real repositories: clean, dirty with untracked files, detached, no repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

from projects import git, make_repo
from reprostack.fingerprint.git import read_git


def test_no_repository(tmp_path: Path) -> None:
    assert read_git(tmp_path).info is None


def test_clean_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    state = read_git(repo)
    assert state.info == {
        "sha": git(repo, "rev-parse", "HEAD"),
        "branch": "main",
        "dirty": False,
        "patch_sha256": None,
        "remote_url": None,
    }
    assert state.patch == b""


def test_dirty_tree_patch_restores_exact_code_without_touching_the_index(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "keep.bin": "x", ".gitignore": "runs/\n"})
    (repo / "a.txt").write_text("a changed\n")
    (repo / "new.py").write_text("print('untracked')\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    (repo / "runs").mkdir()
    (repo / "runs" / "old.log").write_text("ignored\n")
    (repo / "extra").mkdir()
    (repo / "extra" / "skip.txt").write_text("excluded\n")
    index_before = (repo / ".git" / "index").read_bytes()

    state = read_git(repo, exclude=(repo / "extra",))

    assert state.info is not None and state.info["dirty"] is True
    assert len(state.info["patch_sha256"]) == 64
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert git(repo, "status", "--porcelain") == " M a.txt\n?? blob.bin\n?? extra/\n?? new.py"
    # Apply the patch to a clean checkout of the recorded sha: same tree as the working one.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    subprocess.run(
        ["git", "-C", str(clone), "apply", "--binary", "-"], input=state.patch, check=True
    )
    assert (clone / "a.txt").read_text() == "a changed\n"
    assert (clone / "new.py").read_text() == "print('untracked')\n"
    assert (clone / "blob.bin").read_bytes() == bytes(range(256))
    assert not (clone / "runs").exists()
    assert not (clone / "extra").exists()


def test_detached_head_and_remote_token(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    git(repo, "remote", "add", "origin", "https://oauth2:glpat-SECRET@git.example.com/team/p.git")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    info = read_git(repo).info
    assert info is not None
    assert info["branch"] is None
    assert info["remote_url"] == "https://git.example.com/team/p.git"


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"}, commit=False)
    state = read_git(repo)
    assert state.info is not None
    assert state.info["sha"] is None
    assert state.info["dirty"] is True
    assert b"a.txt" in state.patch
