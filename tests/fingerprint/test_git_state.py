"""Git facts on real repositories: clean, dirty with untracked files, detached, no repo."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

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


def test_branch_with_a_slash_and_its_upstream_remote(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    git(repo, "checkout", "-q", "-b", "feature/x")
    git(repo, "remote", "add", "origin", "https://git.example.com/team/p.git")
    git(repo, "remote", "add", "fork", "https://git.example.com/me/p.git")
    git(repo, "config", "branch.feature/x.remote", "fork")
    info = read_git(repo).info
    assert info is not None
    assert info["sha"] == git(repo, "rev-parse", "HEAD")
    assert info["branch"] == git(repo, "symbolic-ref", "--short", "HEAD") == "feature/x"
    assert info["remote_url"] == "https://git.example.com/me/p.git"


def test_sha256_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    (repo / "a.txt").write_text("a\n")
    state = read_git(repo)
    assert state.info is not None
    assert state.info["sha"] is None and state.info["branch"] == "main"
    assert state.info["dirty"] is True
    # The patch is a diff against the sha256 empty tree: it applies to an empty checkout.
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(
        ["git", "-C", str(empty), "apply", "--binary", "-"], input=state.patch, check=True
    )
    assert (empty / "a.txt").read_text() == "a\n"


def test_git_starts_once_per_fact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git start costs a run's start a few ms: commit and branch come with the status."""
    import reprostack.fingerprint.git as fingerprint_git

    started: list[str] = []
    from reprostack.git import run_git as real

    def counting(repo: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        started.append(args[0])
        return real(repo, *args, **kwargs)

    monkeypatch.setattr(fingerprint_git, "run_git", counting)
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    (repo / "a.txt").write_text("changed\n")
    assert read_git(repo).info is not None
    assert sorted(started) == ["add", "config", "diff", "rev-parse", "status"]
    started.clear()
    fresh = make_repo(tmp_path / "fresh", {"a.txt": "a\n"}, commit=False)
    assert read_git(fresh).info is not None
    assert sorted(started) == ["add", "config", "diff", "rev-parse", "status"]  # no hash-object
