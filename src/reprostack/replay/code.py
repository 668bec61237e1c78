"""Restore a run's exact code in a temporary git worktree; the user's tree is never touched."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reprostack.errors import CorruptRecord, UsageError
from reprostack.git import GitFailed, apply_patch, run_git, stderr_of


def repository_of(root: Path) -> Path:
    """The top of the git repository holding ``root``."""
    result = run_git(root, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise UsageError(
            f"{root} is not inside a git repository, so a run's code cannot be restored there",
            hint="run `repro replay` from a clone of the project the run was recorded in",
        )
    return Path(result.stdout.decode().strip())


@dataclass(frozen=True)
class Submodule:
    """A submodule as a run recorded it: where, at which commit, with which changes."""

    path: str
    sha: str
    patch: bytes = b""


@contextmanager
def restored_code(
    repo: Path, sha: str, patch: bytes, run_id: str, submodules: tuple[Submodule, ...] = ()
) -> Iterator[Path]:
    """Yield a worktree of ``repo`` at ``sha`` with ``patch`` applied; remove it afterwards.

    Each submodule is restored at its recorded commit from the user's own checkout of it
    (no network), with its own patch applied.
    """
    if run_git(repo, "cat-file", "-e", f"{sha}^{{commit}}").returncode != 0:
        raise UsageError(
            f"run {run_id} was recorded at commit {sha}, which is not in {repo}",
            hint=f"fetch it (`git fetch origin {sha}`), or replay from the run's exported bundle",
        )
    parent = Path(tempfile.mkdtemp(prefix=f"repro-replay-{run_id}-"))
    worktree = parent / "code"
    added = run_git(repo, "worktree", "add", "--detach", "--quiet", str(worktree), sha)
    if added.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise GitFailed(f"could not check out {sha}: {stderr_of(added)}")
    restored: list[Path] = []
    try:
        _apply(worktree, patch, f"source.patch of run {run_id}", sha)
        for sub in submodules:
            source = repo / sub.path
            target = worktree / sub.path
            added = run_git(source, "worktree", "add", "--detach", "--quiet", str(target), sub.sha)
            if added.returncode != 0:
                raise GitFailed(
                    f"could not restore submodule {sub.path} at {sub.sha} for run {run_id}: "
                    f"{stderr_of(added)}",
                    hint=f"run `git submodule update --init` and fetch {sub.sha} in {sub.path}",
                )
            restored.append(source)
            _apply(target, sub.patch, f"patch of submodule {sub.path}", sub.sha)
        yield worktree
    finally:
        for source in reversed(restored):
            run_git(source, "worktree", "prune")
        run_git(repo, "worktree", "remove", "--force", str(worktree))
        run_git(repo, "worktree", "prune")
        shutil.rmtree(parent, ignore_errors=True)
        for source in restored:  # their worktrees were inside the folder just removed
            run_git(source, "worktree", "prune")


def _apply(worktree: Path, patch: bytes, what: str, sha: str) -> None:
    problem = apply_patch(worktree, patch)
    if problem is not None:
        raise CorruptRecord(
            f"the recorded {what} does not apply on {sha}: {problem}",
            hint="the run folder may have been edited; compare it with a fresh export",
        )
