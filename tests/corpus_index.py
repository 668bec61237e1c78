"""A loopback index for the real projects in tests/corpus/: a wheel for every version they name.

Each requirement the corpus files state (requirements files, PEP 621 and Poetry tables) gets
releases at every version its specifiers mention (and 1.0.0 when a name is unconstrained),
so every range has candidates on both sides of its bounds and the resolvers really choose.
torch 2.x carries its CUDA runtime as a wheel dependency, as torch on PyPI does, so that
`cuda: auto` has something to follow.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from pkgindex import Dist, LocalIndex, build_index, normalise, serve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).parent / "corpus"
CUDA_RUNTIME = "nvidia-cuda-runtime-cu12"
CUDA_RUNTIME_VERSION = "12.4.127"
_VERSION_IN_SPEC = re.compile(r"(?:===|==|~=|!=|<=|>=|<|>)\s*([0-9][0-9A-Za-z.+!]*)")


def corpus_requirements() -> list[Requirement]:
    """Return every requirement the corpus files state (self-references left out)."""
    found: list[Requirement] = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix == ".txt":
            found += _from_requirements(path.read_text())
        elif path.name == "pyproject.toml":
            found += _from_pyproject(tomllib.loads(path.read_text()))
    return found


def _from_requirements(text: str) -> list[Requirement]:
    out = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].split("  #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            out.append(Requirement(line))
        except InvalidRequirement:
            continue
    return out


def _from_pyproject(data: dict[str, object]) -> list[Requirement]:
    project = data.get("project") or {}
    assert isinstance(project, dict)
    lines = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        lines += extra
    for group in (data.get("dependency-groups") or {}).values():  # type: ignore[attr-defined]
        lines += group
    out = [Requirement(line) for line in lines]
    poetry = (data.get("tool") or {}).get("poetry") or {}  # type: ignore[attr-defined]
    tables = [poetry.get("dependencies") or {}]
    tables += [g.get("dependencies") or {} for g in (poetry.get("group") or {}).values()]
    for table in tables:
        for name, spec in table.items():
            if name.lower() != "python" and isinstance(spec, str):
                out.append(Requirement(f"{name}{_caret(spec)}"))
    own = normalise(str(project.get("name", "")))
    return [r for r in out if normalise(r.name) != own]


def _caret(spec: str) -> str:
    """Return Poetry's ``^1.2.3`` as a PEP 440 range (``>=1.2.3,<2``)."""
    if not spec.startswith("^"):
        return "" if spec == "*" else spec
    parts = [int(p) for p in spec[1:].split(".")]
    first = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
    upper = [*parts[:first], parts[first] + 1]
    return f">={spec[1:]},<{'.'.join(map(str, upper))}"


def corpus_dists() -> tuple[Dist, ...]:
    """Return the releases to publish: each named version of each requirement."""
    versions: dict[str, set[str]] = {}
    extras: dict[str, set[str]] = {}
    for req in corpus_requirements():
        name = normalise(req.name)
        named = set(_VERSION_IN_SPEC.findall(str(req.specifier)))
        valid = {v for v in named if _valid(v) and "*" not in v}
        versions.setdefault(name, set()).update(valid or {"1.0.0"})
        extras.setdefault(name, set()).update(req.extras)
    dists = []
    for name, found in sorted(versions.items()):
        for version in sorted(found, key=Version):
            requires: tuple[str, ...] = ()
            if name == "torch" and Version(version).major >= 2 and "+" not in version:
                requires = (f'{CUDA_RUNTIME}=={CUDA_RUNTIME_VERSION}; platform_system == "Linux"',)
            dists.append(Dist(name, version, requires=requires,
                              extras=tuple(sorted(extras[name]))))  # fmt: skip
    dists.append(Dist(CUDA_RUNTIME, CUDA_RUNTIME_VERSION))
    return tuple(dists)


def _valid(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """The corpus's releases served on loopback for the whole session."""
    root = build_index(tmp_path_factory.mktemp("corpus-index"), corpus_dists())
    yield from serve(root)
