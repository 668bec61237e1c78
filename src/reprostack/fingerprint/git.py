"""Git facts of the working tree: the commit, the branch, and the uncommitted changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.redact import redact_url


@dataclass(frozen=True)
class GitState:
    """What the fingerprint records, plus the patch itself (kept out of the JSON)."""

    info: dict[str, Any] | None
    patch: bytes = b""


def _git(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        env=env,
        check=False,
    )


def _out(result: subprocess.CompletedProcess[bytes]) -> str | None:
    return (
        result.stdout.decode("utf-8", "replace").strip() or None if result.returncode == 0 else None
    )


def read_git(root: Path, exclude: tuple[Path, ...] = ()) -> GitState:
    """Return the git state of the repository holding ``root``; info is None outside git.

    ``exclude`` lists folders left out of the patch, such as the runs folder, so that a
    record never contains earlier records.
    """
    if shutil.which("git") is None:
        return GitState(None)
    # One call for both paths: every git start costs a few ms on a run's critical path.
    where = _out(_git(root, "rev-parse", "--show-toplevel", "--absolute-git-dir"))
    if where is None or len(where.splitlines()) != 2:
        return GitState(None)
    top, git_dir = where.splitlines()
    repo = Path(top)
    excluded = tuple(_inside(repo, path) for path in exclude)
    sha = _out(_git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}"))
    branch = _out(_git(repo, "symbolic-ref", "--short", "-q", "HEAD"))
    patch = _patch(repo, Path(git_dir), sha, tuple(p for p in excluded if p))
    return GitState(
        {
            "sha": sha,
            "branch": branch,  # None on a detached HEAD
            "dirty": bool(patch),
            "patch_sha256": hashlib.sha256(patch).hexdigest() if patch else None,
            "remote_url": _remote_url(repo, branch),
        },
        patch,
    )


def _inside(repo: Path, path: Path) -> str | None:
    """``path`` relative to the repository, or None when it lies outside."""
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return None


def _remote_url(repo: Path, branch: str | None) -> str | None:
    """The URL of the branch's upstream remote (else origin, else the first), without secrets."""
    listing = _out(_git(repo, "config", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$"))
    urls: dict[str, str] = {}
    upstream = None
    for line in (listing or "").splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("remote.") and key.endswith(".url"):
            urls.setdefault(key[len("remote.") : -len(".url")], value)
        elif branch and key == f"branch.{branch}.remote":
            upstream = value
    if not urls:
        return None
    name = next((n for n in (upstream, "origin") if n in urls), next(iter(urls)))
    return redact_url(urls[name])


def _patch(repo: Path, git_dir: Path, sha: str | None, exclude: tuple[str, ...]) -> bytes:
    """A binary diff of every uncommitted change, untracked (not ignored) files included.

    Untracked files are staged into a throw-away copy of the index so that the user's own
    index is never touched; ``git apply`` on top of ``sha`` restores the exact tree.
    """
    with tempfile.TemporaryDirectory(prefix="repro-index-") as tmp:
        index = Path(tmp) / "index"
        real_index = git_dir / "index"
        if real_index.exists():
            shutil.copyfile(real_index, index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        # git refuses (exit 1) an exclude naming an ignored path; ignored ones need none.
        kept_out = [p for p in exclude if _git(repo, "check-ignore", "-q", p).returncode != 0]
        pathspec = [".", *(f":(exclude){path}" for path in kept_out)]
        added = _git(repo, "add", "-A", "--", *pathspec, env=env)
        if added.returncode != 0:
            return b""
        base = sha or _empty_tree(repo)
        diff = _git(
            repo,
            "diff",
            "--cached",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            base,
            "--",
            *pathspec,
            env=env,
        )
        return diff.stdout if diff.returncode == 0 else b""


def _empty_tree(repo: Path) -> str:
    """The id of git's empty tree, the base of a repository without commits."""
    return _out(_git(repo, "hash-object", "-t", "tree", "/dev/null")) or ""
