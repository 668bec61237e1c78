"""Real project folders for tests: git repositories with commits, repro.yaml, scripts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def repro_in_process(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``repro(cwd, *ARGS)`` without a new interpreter: click's runner calls the same group
    (lazy commands, errors mapped to their exit codes) with the same argv, environment and
    folder, and the result has the same shape. For commands whose output and exit code are
    all a test checks; signals, process groups, umask and the console script need ``repro``.
    An exception the group does not map propagates (``catch_exceptions=False``)."""
    from click.testing import CliRunner

    from reprostack.cli import cli

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(
            cli, list(args), env=env, catch_exceptions=False, prog_name="repro"
        )
    return subprocess.CompletedProcess(
        [*REPRO, *args], result.exit_code, result.stdout, result.stderr
    )


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


WHEELS = Path(__file__).parent / "image_cases" / "scripts" / "wheels"
WHEEL_TRAIN = """\
import json, os, random
from pathlib import Path
import alpha
rng = random.Random(int(os.environ.get("REPRO_SEED", "0")))
weights = [round(rng.gauss(0, 1), 12) for _ in range(16)]
out = Path(os.environ["REPRO_OUTPUT_DIR"])
(out / "checkpoint.json").write_text(json.dumps({"alpha": alpha.VERSION, "w": weights}))
print("trained with alpha", alpha.VERSION, "code", Path("VERSION").read_text().strip())
"""


def wheel_project(root: Path, name: str, extra_yaml: str = "") -> Path:
    """A committed, locked project on the local base whose lock pins a wheel from the repo.

    Locked with uv from the bundled wheels (no index); the images it builds need no network.
    The Dockerfiles and the base pin are committed too (one `repro build --prod` made them),
    so the tree is clean and prod builds of HEAD name it.
    """
    import shutil

    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "repro.yaml").write_text(
        f'name: {name}\npython: "3.11"\ncuda: "none"\nbase_image: local/debian-python:bookworm\n'
        "lock:\n  tool: uv\n  inputs: [requirements.in]\n" + extra_yaml
    )
    (root / "requirements.in").write_text("--no-index\n--find-links wheels\nalpha\n")
    shutil.copytree(WHEELS, root / "wheels")
    (root / "train.py").write_text(WHEEL_TRAIN)
    (root / "VERSION").write_text("first\n")
    (root / ".gitignore").write_text("runs/\n")
    locked = repro(root, "lock", "--prod")
    if locked.returncode != 0:
        raise AssertionError(f"repro lock failed: {locked.stderr}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    built = repro(root, "build", "--prod")
    if built.returncode != 0:
        raise AssertionError(f"repro build failed: {built.stderr}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Dockerfiles and the base pin")
    return root


def remove_project_images(client: Any, repository: str) -> None:
    """Remove every image a test project built (``localhost/repro-<name>``), whatever its tag."""
    found = client.images.list(filters={"label": f"org.opencontainers.image.title={repository}"})
    for image in found:
        client.images.remove(image.id, force=True)


def build_variant(
    config: Any, variant: str, *, engine: Any, progress: Any = None, **options: Any
) -> Any:
    """Build as an entry point does: resolve the bases once (pinning on ``engine``), then build."""
    from reprostack.bases.resolve import resolve_bases
    from reprostack.image.build import BuildRequest, build_image

    bases = resolve_bases(config, engine=engine)
    request = BuildRequest(config, variant, bases, **options)
    return build_image(request, progress=progress, engine=engine)
