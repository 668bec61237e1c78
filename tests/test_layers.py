"""The package's layer order, enforced: a module imports only from its own layer or below.

Read top to bottom, the order says who may know about whom. Commands sit on workflows, which
sit on runs; a run builds images, images install locks, locks resolve inside the chosen bases;
below that the facts of a machine (fingerprint, data), the run record's model, the config, and
the foundation every layer may use (the engine port, git, lock text, errors...). Every import
counts, also one inside a function: a lazy import changes when a module loads, not who depends
on whom. No first-party import may hide behind ``except ImportError``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reprostack

PACKAGE = Path(reprostack.__file__).parent

# Top to bottom. A name is a module or package below ``reprostack``; the longest one matching a
# module decides its layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("commands", ("cli", "__main__")),
    ("workflows", ("replay", "init", "adopt")),
    ("cluster", ("cluster",)),
    ("runs", ("runs",)),
    ("supply chain", ("registry", "sbom")),
    ("experiments", ("experiments",)),
    ("doctor", ("doctor",)),
    ("image", ("image",)),
    ("lock", ("lock",)),
    ("bases", ("bases",)),
    ("fingerprint", ("fingerprint", "determinism", "inputs")),
    ("data", ("data",)),
    ("records", ("record",)),
    ("config", ("config",)),
    (
        "foundation",
        ("engine", "git", "locktext", "jsonlock", "atomic", "redact", "errors", "filehash",
         "secret_files", "asof", "yaml_limits", "versions", "cachedir", "mounts"),
    ),
]  # fmt: skip


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts)


def _layer(name: str) -> int | None:
    """Return the index of the layer of ``name`` (relative to reprostack); None: the root."""
    best: tuple[int, int] | None = None
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            matches = name == member or name.startswith(member + ".")
            if matches and (best is None or len(member) > best[0]):
                best = (len(member), index)
    return None if best is None else best[1]


def _first_party_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "reprostack":
                found += [(node.lineno, alias.name) for alias in node.names]
            elif node.module.startswith("reprostack."):
                found.append((node.lineno, node.module.removeprefix("reprostack.")))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name.removeprefix("reprostack."))
                for alias in node.names
                if alias.name.startswith("reprostack.")
            ]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    # The package root is the public facade (``__version__``, ``log_metrics``): it sits above
    # everything and everything may read its version; the determinism hook runs inside the
    # user's process and imports nothing of reprostack.
    unplaced = [
        _module_name(path)
        for path in MODULES
        if _module_name(path) and _layer(_module_name(path)) is None
    ]
    assert unplaced == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p) or "reprostack")
def test_imports_follow_the_layer_order(path: Path) -> None:
    name = _module_name(path)
    own = _layer(name) if name else None
    if own is None:
        return  # the root facade
    upward = []
    for line, target in _first_party_imports(ast.parse(path.read_text("utf-8"))):
        layer = _layer(target)
        if layer is not None and layer < own:
            upward.append(f"{path.name}:{line} imports {target} ({LAYERS[layer][0]})")
    assert upward == [], f"{name} is in layer {LAYERS[own][0]}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p) or "reprostack")
def test_no_first_party_import_hides_behind_import_error(path: Path) -> None:
    hidden = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Try):
            continue
        catches_import_error = any(
            handler.type is not None and "ImportError" in ast.unparse(handler.type)
            for handler in node.handlers
        )
        if catches_import_error:
            body = ast.Module(body=node.body, type_ignores=[])
            hidden += [f"line {line}: {target}" for line, target in _first_party_imports(body)]
    assert hidden == []


def _package(name: str) -> str:
    return name.split(".")[0]


def test_no_two_packages_import_each_other() -> None:
    # Within one layer the order cannot tell who may import whom: a pair of packages that
    # import each other is a knot any change has to untie first.
    imports: dict[str, set[str]] = {}
    for path in MODULES:
        name = _module_name(path)
        if not name:
            continue
        own = _package(name)
        for _, target in _first_party_imports(ast.parse(path.read_text("utf-8"))):
            if _package(target) != own:
                imports.setdefault(own, set()).add(_package(target))
    knots = sorted(
        f"{a} <-> {b}" for a, targets in imports.items() for b in targets
        if a < b and a in imports.get(b, set())
    )  # fmt: skip
    assert knots == []
