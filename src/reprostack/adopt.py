"""What ``repro init`` adopts from a project that already declares its dependencies.

Most projects ship ``requirements.txt``; others a pip-tools ``requirements.in``, a PEP 621
``[project]`` table, a Poetry project or a uv project. The first of those found (in the order
a maintainer would expect: the most specific first) becomes ``lock.inputs``, and the choice is
said out loud. An input set that lists no package is a warning: locking it locks nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprostack.errors import ConfigError
from reprostack.lock.detect import DEFAULT_TOOL, read_toml

# Dev requirement files, in the spellings projects use.
_DEV_FILES = (
    "requirements-dev.in",
    "requirements-dev.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "requirements/dev.txt",
)
# A framework that ships CUDA builds: the image should follow the lock's CUDA (cuda: auto).
_GPU_FRAMEWORK = re.compile(
    r"^\s*[\"']?(torch|torchvision|torchaudio|tensorflow|jax|jaxlib|cupy[\w-]*|nvidia-[\w-]+)\b",
    re.IGNORECASE | re.MULTILINE,
)
_REQUIREMENT = re.compile(r"^\s*[A-Za-z0-9]", re.MULTILINE)


@dataclass
class Adopted:
    """The lock tool and inputs chosen for a project, and what to tell the user about them."""

    tool: str
    inputs: list[str]
    dev_inputs: list[str]
    cuda: str  # "auto" when a CUDA-capable framework is among the inputs, else "none"
    found: bool  # False: nothing to adopt; init writes requirements.in itself
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def adopt_inputs(root: Path) -> Adopted:
    """Return what ``repro init`` should put under ``lock:`` for the project at ``root``."""
    pyproject = root / "pyproject.toml"
    data: dict[str, Any] = read_toml(pyproject, "pyproject.toml") if pyproject.is_file() else {}
    project = data.get("project") or {}
    poetry = (data.get("tool") or {}).get("poetry")
    if poetry is not None:
        return _finish(root, "poetry", ["pyproject.toml"], [], "a Poetry project")
    dev = [name for name in _DEV_FILES if (root / name).is_file()][:1]
    if (root / "requirements.in").is_file():
        dev = ["requirements-dev.in"] if (root / "requirements-dev.in").is_file() else []
        return _finish(root, DEFAULT_TOOL, ["requirements.in"], dev, "pip-tools inputs")
    uv = (root / "uv.lock").is_file() or "uv" in (data.get("tool") or {})
    if project.get("dependencies") or (project and not (root / "requirements.txt").is_file()):
        extras = project.get("optional-dependencies") or {}
        groups = data.get("dependency-groups") or {}
        dev = ["pyproject.toml[dev]"] if "dev" in extras else dev
        kind = "a uv project" if uv else "PEP 621 [project] dependencies"
        adopted = _finish(root, DEFAULT_TOOL, ["pyproject.toml"], dev, kind)
        others = sorted(set(extras) - {"dev"})
        if others:
            adopted.notes.append(
                f"pyproject.toml has extras {', '.join(others)}: list the ones the image "
                "needs under lock.extras"
            )
        if groups:
            adopted.notes.append(
                f"pyproject.toml has dependency groups {', '.join(sorted(groups))}: list the "
                "ones the image needs under lock.groups (uv)"
            )
        return adopted
    if (root / "requirements.txt").is_file():
        return _finish(root, DEFAULT_TOOL, ["requirements.txt"], dev, "requirements.txt")
    return Adopted(DEFAULT_TOOL, ["requirements.in"], ["requirements-dev.in"], "none", False)


def adopt_named(root: Path, inputs: list[str]) -> Adopted:
    """Return what ``repro init --inputs FILE…`` puts under ``lock:``: the files named, in
    places adoption does not look (``dl-gpu-requirements.txt``, ``server/pyproject.toml``).

    A root ``pyproject.toml`` that is a Poetry project keeps Poetry; anything else is locked
    with the default tool. Raises ConfigError for a file that is missing or outside the project.
    """
    problems = []
    for spec in inputs:
        rel = spec.split("[", 1)[0].strip()
        path = (root / rel).resolve()
        if not path.is_relative_to(root.resolve()):
            problems.append(f"--inputs: '{rel}' is outside the project")
        elif not path.is_file():
            problems.append(f"--inputs: '{rel}' does not exist")
    if problems:
        raise ConfigError(problems, hint="name files relative to the project folder")
    tool = DEFAULT_TOOL
    if inputs == ["pyproject.toml"]:
        data = read_toml(root / "pyproject.toml", "pyproject.toml")
        if (data.get("tool") or {}).get("poetry") is not None:
            tool = "poetry"
    return _finish(root, tool, list(inputs), [], "named with --inputs")


def _finish(root: Path, tool: str, inputs: list[str], dev: list[str], kind: str) -> Adopted:
    text = "\n".join(_text(root / name.split("[")[0]) for name in inputs)
    adopted = Adopted(tool, inputs, dev, "auto" if _GPU_FRAMEWORK.search(text) else "none", True)
    shown = ", ".join(inputs) + (f" (dev: {', '.join(dev)})" if dev else "")
    adopted.notes.append(f"adopted {shown}: {kind}, locked with {tool}")
    if tool == DEFAULT_TOOL:
        adopted.notes.append(
            "uv resolves for the image's Python, platform and glibc on any host; set "
            "lock.tool: pip-tools in repro.yaml to lock with pip-tools instead"
        )
    if adopted.cuda == "auto":
        adopted.notes.append(
            "a CUDA-capable framework is among the inputs: cuda: auto follows the lock "
            "(CUDA from the wheels, or the nvidia/cuda base a +cuXXX pin asks for)"
        )
    if not _lists_packages(root, inputs, tool, text):
        adopted.warnings.append(
            f"{', '.join(inputs)} lists no packages: `repro lock` would lock nothing; add the "
            "project's dependencies there"
        )
    return adopted


def _lists_packages(root: Path, inputs: list[str], tool: str, text: str) -> bool:
    """Return whether the inputs name at least one dependency."""
    if inputs != ["pyproject.toml"]:
        return bool(_REQUIREMENT.search(text))
    data = read_toml(root / "pyproject.toml", "pyproject.toml")
    if tool == "poetry":
        poetry = data.get("tool", {}).get("poetry", {})
        deps = {k for k in poetry.get("dependencies", {}) if k.lower() != "python"}
        return bool(deps or data.get("project", {}).get("dependencies"))
    project = data.get("project", {})
    return bool(project.get("dependencies") or project.get("optional-dependencies"))


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
