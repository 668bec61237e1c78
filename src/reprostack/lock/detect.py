"""Which tool locks a project and from which files, when repro.yaml does not say."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from reprostack.config import LOCK_DIR
from reprostack.config.schema import LockTool
from reprostack.errors import ConfigError, ReproError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - poetry-core is a dependency and vendors tomli for 3.10
    from poetry.core._vendor import tomli as tomllib

from reprostack.lock.base import InputFile

# The tool for a project whose inputs imply none: uv resolves for the image's Python,
# platform and glibc on any host, without an engine, and fastest.
DEFAULT_TOOL: LockTool = "uv"
_SPEC_RE = re.compile(r"^(?P<path>[^\[\]]+?)(?:\[(?P<extras>[^\]]*)\])?$")


def read_toml(path: Path, label: str) -> dict[str, Any]:
    """Return a TOML file's data; raise ConfigError naming the file on a syntax error."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read it: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: not valid TOML: {exc}"]) from exc
    return data


def is_poetry_project(root: Path) -> bool:
    """Return whether ``pyproject.toml`` declares a ``[tool.poetry]`` project."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    return "poetry" in read_toml(pyproject, "pyproject.toml").get("tool", {})


def detect_tool(root: Path, inputs: tuple[str, ...]) -> LockTool:
    """Return the lock tool for a project whose repro.yaml names none.

    poetry.lock or a [tool.poetry] project -> poetry (unless requirements files are the inputs);
    uv.lock -> uv; a project whose prod lock was written by a tool keeps that tool (a project
    locked with pip-tools before uv became the default stays on pip-tools); anything else ->
    DEFAULT_TOOL (uv).
    """
    named_requirements = any(not spec.split("[")[0].endswith(".toml") for spec in inputs)
    if not named_requirements and ((root / "poetry.lock").is_file() or is_poetry_project(root)):
        return "poetry"
    if (root / "uv.lock").is_file():
        return "uv"
    return _tool_of_lock(root / LOCK_DIR / "prod.txt") or DEFAULT_TOOL


def _tool_of_lock(path: Path) -> LockTool | None:
    """Return the tool named in a lock's header, or None (no lock, or not one of ours)."""
    from reprostack.lock.header import read_lock_header

    if not path.is_file():
        return None
    try:
        name = read_lock_header(path).tool_name
    except ReproError:
        return None
    tools: dict[str, LockTool] = {"uv": "uv", "pip-tools": "pip-tools", "poetry": "poetry"}
    return tools.get(name)


def parse_spec(root: Path, spec: str, where: str) -> InputFile:
    """Turn ``requirements.in`` or ``pyproject.toml[dev,test]`` into an InputFile."""
    match = _SPEC_RE.match(spec.strip())
    if match is None:
        raise ConfigError([f"{where}: '{spec}' is not a file name (optionally with [extras])"])
    rel = match.group("path").strip()
    extras = tuple(e.strip() for e in (match.group("extras") or "").split(",") if e.strip())
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ConfigError([f"{where}: '{rel}' is outside the project"])
    if not path.is_file():
        raise ConfigError(
            [f"{where}: '{rel}' does not exist"],
            hint="paths in lock.inputs are relative to repro.yaml",
        )
    return InputFile(path=path, rel=path.relative_to(root.resolve()).as_posix(), extras=extras)


def default_inputs(root: Path, tool: str) -> tuple[list[str], list[str]]:
    """Return (prod, dev) input specs for a project whose repro.yaml lists none."""
    if tool == "poetry":
        return ["pyproject.toml"], []
    prod: list[str] = []
    dev: list[str] = []
    if (root / "requirements.in").is_file():
        prod = ["requirements.in"]
    elif (root / "pyproject.toml").is_file():
        prod = ["pyproject.toml"]
    if (root / "requirements-dev.in").is_file():
        dev = ["requirements-dev.in"]
    elif prod == ["pyproject.toml"]:
        optional = read_toml(root / "pyproject.toml", "pyproject.toml").get("project", {})
        if "dev" in optional.get("optional-dependencies", {}):
            dev = ["pyproject.toml[dev]"]
    return prod, dev
