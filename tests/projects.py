"""Real project folders for tests: git repositories with commits, repro.yaml, scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


# `repro` as a user runs it: a new interpreter, so signals, exit codes and imports are real.
REPRO = [sys.executable, "-m", "reprostack"]


def repro(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``repro ARGS`` in ``cwd``; ``env`` is added to this process's environment."""
    return subprocess.run(
        [*REPRO, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; return stdout."""
    result = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return result.stdout.rstrip("\n")


def make_repo(root: Path, files: dict[str, str], *, commit: bool = True) -> Path:
    """Create a git repository at ``root`` holding ``files``; commit them unless told not to."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
    return root


TRAIN_SCRIPT = """\
import json, os, random, sys
from pathlib import Path
seed = int(os.environ.get("REPRO_SEED", "0"))
rng = random.Random(seed)
values = [rng.random() for _ in range(5)]
print("train: seed", seed, "args", sys.argv[1:])
print("warning: to stderr", file=sys.stderr)
out = Path(os.environ["REPRO_OUTPUT_DIR"])
(out / "metrics.json").write_text(json.dumps({"mean": sum(values) / 5}, sort_keys=True))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""

REPRO_YAML = """\
name: demo
python: "3.11"
cuda: "none"
env: {OMP_NUM_THREADS: "1"}
run:
  pass_env: [WANDB_API_KEY]
"""


def demo_project(root: Path, *, commit: bool = True) -> Path:
    """A git project with repro.yaml, a training script and a config, runs/ ignored."""
    return make_repo(
        root,
        {
            "repro.yaml": REPRO_YAML,
            "train.py": TRAIN_SCRIPT,
            "configs/base.yaml": "lr: 0.1\nepochs: 2\n",
            ".gitignore": "runs/\n",
        },
        commit=commit,
    )
