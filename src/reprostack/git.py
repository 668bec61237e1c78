"""The one way reprostack runs git: a runner, and the patch applier every caller shares.

git is run as a command (never a library), always with ``-C`` so the working directory of the
caller never matters, and its output captured as bytes (file names and patches are not always
UTF-8).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from reprostack.errors import EnvironmentMissing


class GitFailed(EnvironmentMissing):
    """git itself failed (exit 3): an archive, a checkout or a fetch it could not do."""


def run_git(
    repo: Path,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C repo ARGS`` and return the finished process (never raises on failure).

    ``env`` replaces the environment when given (pass ``{**os.environ, ...}`` to extend it).
    """
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        input=input,
        capture_output=True,
        env=dict(env) if env is not None else None,
        check=False,
    )


def git_output(repo: Path, *args: str, strip: bool = True) -> str | None:
    """Return git's stdout as text (stripped unless ``strip=False``), or None when it failed."""
    done = run_git(repo, *args)
    if done.returncode != 0:
        return None
    text = done.stdout.decode("utf-8", "replace")
    return text.strip() if strip else text


def stderr_of(done: subprocess.CompletedProcess[bytes]) -> str:
    """Return git's own message of a failed command (or its exit code when it said nothing)."""
    return done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"


def apply_patch(tree: Path, patch: bytes, *, ceiling: Path | None = None) -> str | None:
    """Apply a recorded patch (binary hunks included) to the files of ``tree``.

    ``ceiling`` keeps git from finding a repository above a tree that is not one itself (an
    exported commit in a temporary folder). Returns None when it applied, else git's message.
    """
    if not patch:
        return None
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(ceiling)} if ceiling else None
    done = run_git(tree, "apply", "--binary", "--whitespace=nowarn", "-", input=patch, env=env)
    return None if done.returncode == 0 else stderr_of(done)
