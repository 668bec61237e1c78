"""A dev lock that cannot keep prod's versions: name both pins and the ways out.

The dev lock is compiled with the prod lock as constraints (``-c lockfiles/prod.txt``), so a
dev input that pins another version of a prod package has no solution. The tools report that
as a generic conflict (pip-tools after pages of build warnings); the user needs to hear that
the conflict is with the prod lock, which two pins disagree, and what to change.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from reprostack.config import LOCK_DIR
from reprostack.errors import ConfigError
from reprostack.lock.base import InputFile, LockRequest
from reprostack.locktext import canonical, logical_lines, parse_pins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - poetry-core vendors tomli for 3.10
    from poetry.core._vendor import tomli as tomllib


@dataclass(frozen=True)
class ProdConflict:
    """One requirement of the inputs that the prod lock's pin does not satisfy."""

    source: str  # the input that asks for it: "requirements-dev.in"
    requirement: str  # as written: "protobuf==6.31.0"
    pin: str  # the prod lock's: "protobuf==7.36.2"


def prod_conflict_error(
    request: LockRequest, output: str, detail: list[str], what: str
) -> ConfigError | None:
    """Return the error for a dev lock whose inputs disagree with the prod lock, or None when
    the failure is not that (no constraints, or no disagreement can be named).

    ``output`` is the tool's whole report, ``detail`` its trimmed lines (those naming the
    disagreeing packages are kept; build warnings are not).
    """
    if request.constraints is None or not request.constraints.is_file():
        return None
    # The constraints are the prod lock, maybe as a pending copy of it (a lock run that
    # resolves both writes neither until both resolved): named as the user knows it.
    prod_rel = f"{LOCK_DIR}/prod.txt"
    read_as = os.path.relpath(request.constraints, request.root)
    detail = [line.replace(read_as, prod_rel) for line in detail]
    text = request.constraints.read_text(encoding="utf-8")
    pins = parse_pins(text.partition("\n\n")[2] or text)
    conflicts = direct_conflicts(request, pins)
    if conflicts:
        lines = [f"{what} conflicts with the prod lock {prod_rel}:"]
        lines += [f"{c.source} asks for {c.requirement}; {prod_rel} pins {c.pin}"
                  for c in conflicts]  # fmt: skip
        worst = conflicts[0]
        return ConfigError(
            lines,
            hint=f"{what} keeps every version of {prod_rel}: loosen the dev pin "
            f"({worst.requirement} in {worst.source}), or add {worst.requirement} to the prod "
            "inputs so that prod resolves it too; then run `repro lock`",
        )
    # A dev requirement that needs another version through its own dependencies: the tools
    # name the prod pin (uv: "you require alpha==2.0.0"; pip: "depend(s) on alpha...").
    report = output + "\n" + "\n".join(detail)
    named = [f"{name}=={version}" for name, version in sorted(pins.items())
             if _mentioned(name, version, report)]  # fmt: skip
    if not named:
        return None
    names = [pin.split("==")[0] for pin in named]
    # The tool's explanation from its first line naming them (build warnings come before).
    first = next((number for number, line in enumerate(detail)
                  if any(re.search(rf"(?<![\w.-]){re.escape(n)}\b", line, re.IGNORECASE)
                         for n in names)), len(detail))  # fmt: skip
    shown = textwrap.dedent("\n".join(detail[first:])).splitlines()
    return ConfigError(
        [f"{what} conflicts with the prod lock {prod_rel}, which pins {', '.join(named)}:",
         *shown],
        hint=f"{what} keeps every version of {prod_rel}: loosen the dev requirement that needs "
        "another version, or add it to the prod inputs so that prod resolves it too; then run "
        "`repro lock`",
    )  # fmt: skip


def _mentioned(name: str, version: str, output: str) -> bool:
    """Whether a resolver's conflict report names the prod pin ``name==version``."""
    word = rf"(?<![\w.-]){re.escape(name)}"
    return bool(
        re.search(rf"{word}=={re.escape(version)}\b", output, re.IGNORECASE)
        or re.search(rf"depends? on {re.escape(name)}(?![\w.-])", output, re.IGNORECASE)
    )


def direct_conflicts(request: LockRequest, pins: dict[str, str]) -> list[ProdConflict]:
    """Return the inputs' own requirements whose specifier excludes the prod lock's pin."""
    env = request.target.marker_env()
    found = []
    for item in request.inputs:
        for text in _requirements(item):
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonical(req.name)
            if name not in pins or req.url:
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if not req.specifier.contains(pins[name], prereleases=True):
                found.append(ProdConflict(item.rel, str(req), f"{name}=={pins[name]}"))
    return found


def _requirements(item: InputFile) -> list[str]:
    """Return the requirement strings an input names itself (not its includes)."""
    if item.rel.endswith(".toml"):
        return _pyproject_requirements(item.path, item.extras)
    try:
        text = item.path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for _, line in logical_lines(text):
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("-", "#")):
            out.append(line)
    return out


def _pyproject_requirements(path: Path, extras: tuple[str, ...]) -> list[str]:
    try:
        with path.open("rb") as handle:
            project = tomllib.load(handle).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return []
    out = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        out += optional.get(extra, [])
    return [str(r) for r in out]
