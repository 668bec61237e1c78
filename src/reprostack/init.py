"""``repro init``: write repro.yaml, the inputs, ignore files and the research layout."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.atomic import write_text
from reprostack.config.load import CONFIG_NAME

DOCKERIGNORE = """\
# Written by repro init: keep the build context small and free of secrets.
.git
runs/
data/
outputs/
debug/
playground/
**/__pycache__/
**/*.py[cod]
.venv/
venv/
.mypy_cache/
.pytest_cache/
.ruff_cache/
.ipynb_checkpoints/
.env
.env.*
*.pem
*.key
"""

GITIGNORE_LINES = ("/runs/", ".env")
LAYOUT_GITIGNORE_LINES = ("/outputs/", "/debug/", "/data/*", "!/data/README.md", "!/data/toy/")

LAYOUT_FILES = {
    "data/README.md": """\
# data/

Raw data stays outside git: mount it at run time (`run.mounts` in repro.yaml, or
`repro run -v /data/set:/data/set:ro`). `toy/` holds a tiny subset with the same folder
structure, committed, so tests and `repro run` work on a fresh clone.
""",
    "data/toy/.gitkeep": "",
    "configs/default.yaml": (
        "# Hyper-parameters: `repro run train.py --config configs/default.yaml` records them.\n"
        "seed: 0\nlr: 0.1\nepochs: 3\n"
    ),
    "outputs/.gitkeep": "",
    "playground/README.md": "Throw-away notebooks and experiments; nothing here is depended on.\n",
    "scripts/README.md": "Entry points: training, evaluation, data preparation.\n",
    "debug/.gitkeep": "",
}


@dataclass
class InitReport:
    """What ``repro init`` did to each file."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was adopted, and why
    warnings: list[str] = field(default_factory=list)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "project"


def render_config(
    name: str, python: str, cuda: str, tool: str, inputs: list[str], dev_inputs: list[str]
) -> str:
    """The text of a fresh repro.yaml, with comments a new user needs."""

    def yaml_list(items: list[str]) -> str:
        # ``pyproject.toml[dev]`` holds brackets: such an item is quoted.
        return "[" + ", ".join(f'"{i}"' if "[" in i else i for i in items) + "]"

    # os: names the nvidia/cuda base's OS; CPU images (and CUDA from wheels) use the official
    # Debian-based Python images, so writing an Ubuntu release there would be wrong.
    os_line = (
        "os: ubuntu22.04                   # the nvidia/cuda base's OS\n"
        if cuda not in ("none", "auto")
        else ""
    )
    return f"""\
# repro.yaml: the one config for images, locks and runs (see `repro --help`).
name: {name}                      # images: localhost/repro-{name}:<variant>-<hash>
python: "{python}"
platform: linux/amd64
cuda: "{cuda}"                     # "none" for CPU images, "auto" to follow the lock
{os_line}base_image: null                  # set to override the CUDA/CPU base entirely
system_packages: []               # apt packages the code needs at run time (prod and dev)
dev:
  system_packages: [git]          # dev-only tools; prod gets its code from `git archive`
lock:
  tool: {tool}
  inputs: {yaml_list(inputs)}
  dev_inputs: {yaml_list(dev_inputs)}
build:
  # Behind a TLS-intercepting proxy (pip: CERTIFICATE_VERIFY_FAILED), list its CA bundle:
  ca_certificates: []             # e.g. [certs/proxy-ca.pem]; or host_ca_bundle: true
env: {{OMP_NUM_THREADS: "1"}}      # configuration only: secrets go in run.pass_env
run:
  mode: local                     # local | dev | prod
  gpus: auto
  mounts: []
  pass_env: []
  dir: runs
"""


def _write(root: Path, relative: str, text: str, force: bool, report: InitReport) -> None:
    path = root / relative
    if path.exists() and not force:
        report.kept.append(relative)
        return
    write_text(path, text)
    report.written.append(relative)


def _ensure_lines(path: Path, lines: tuple[str, ...], report: InitReport, root: Path) -> None:
    """Append missing lines to an ignore file, keeping what the user has."""
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in lines if line not in existing]
    if not missing:
        return
    body = "\n".join([*existing, *missing]) + "\n"
    write_text(path, body)
    (report.updated if existing else report.written).append(path.relative_to(root).as_posix())


def init_project(
    root: Path,
    *,
    name: str | None = None,
    cuda: str | None = None,
    layout: bool = False,
    force: bool = False,
    inputs: Sequence[str] = (),
) -> InitReport:
    """Write the project files into ``root``; existing files are kept unless ``force``.

    The project's own dependency files are adopted as the lock's inputs (see
    :mod:`reprostack.adopt`); ``cuda`` None follows them (``auto`` for a CUDA-capable
    framework, else ``none``). ``inputs`` names the lock's inputs instead (files adoption does
    not look for). The report says what was adopted and warns about empty inputs.
    """
    from reprostack.adopt import adopt_inputs, adopt_named

    report = InitReport()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    adopted = adopt_named(root, list(inputs)) if inputs else adopt_inputs(root)
    report.notes += adopted.notes
    report.warnings += adopted.warnings
    chosen_cuda = cuda if cuda is not None else adopted.cuda
    text = render_config(_slug(name or root.name), python, chosen_cuda, adopted.tool,
                         adopted.inputs, adopted.dev_inputs)  # fmt: skip
    _write(root, CONFIG_NAME, text, force, report)
    if not adopted.found:
        _write(
            root,
            "requirements.in",
            "# Direct dependencies, loosely pinned; `repro lock` pins them.\n",
            force,
            report,
        )
        _write(
            root,
            "requirements-dev.in",
            "# Dev-only tools; locked against the prod lock.\npytest\n",
            force,
            report,
        )
        report.warnings.append(
            "requirements.in lists no packages yet: add the project's dependencies before "
            "`repro lock`"
        )
    _write(root, ".dockerignore", DOCKERIGNORE, force, report)
    gitignore = GITIGNORE_LINES + (LAYOUT_GITIGNORE_LINES if layout else ())
    _ensure_lines(root / ".gitignore", gitignore, report, root)
    if layout:
        for relative, content in LAYOUT_FILES.items():
            _write(root, relative, content, force, report)
    return report
