"""Poetry: poetry.lock (resolved by ``poetry lock`` when stale) turned into hashed requirements.

poetry.lock is universal: it holds every package any platform might need, with markers and
every file's hash. The conversion walks it from the project's declared dependencies (read with
poetry-core) and keeps what the target Python and platform install, so no host match is needed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reprostack.errors import ConfigError, EnvironmentMissing
from reprostack.lock.base import InputFile, LockRequest, Target, run_tool, tool_env
from reprostack.lock.detect import read_toml
from reprostack.lock.failures import explain
from reprostack.lock.indexes import IndexOption, check_option
from reprostack.locktext import canonical

_HINT = "install it with `pip install 'reprostack[poetry]'`"


def poetry_plan(root: Path, variant: str) -> tuple[tuple[InputFile, ...], list[IndexOption], bool]:
    """Return (inputs, index options from [[tool.poetry.source]], whether ``variant`` exists)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise ConfigError(
            ["lock.tool is poetry but there is no pyproject.toml"],
            hint="run `poetry init`, or set lock.tool to pip-tools or uv",
        )
    data = read_toml(pyproject, "pyproject.toml")
    poetry = data.get("tool", {}).get("poetry", {})
    options: list[IndexOption] = []
    sources = poetry.get("source", [])
    primaries = [s for s in sources if s.get("priority", "primary") == "primary"]
    # pip has one --index-url; other sources become extra indexes (pip has no per-package index).
    for position, source in enumerate(primaries + [s for s in sources if s not in primaries]):
        option = "--index-url" if position == 0 and primaries else "--extra-index-url"
        where = f"pyproject.toml: tool.poetry.source '{source.get('name', '?')}'"
        item = IndexOption(option, str(source.get("url", "")), where, root)
        check_option(item, root, root)
        options.append(item)
    groups = set(poetry.get("group", {})) - {"main"}
    has_dev = bool(groups or poetry.get("dev-dependencies") or data.get("dependency-groups"))
    inputs = (InputFile(pyproject.resolve(), "pyproject.toml"),)
    return inputs, options, variant == "prod" or has_dev


def find_poetry() -> str | None:
    """Return the poetry executable installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "poetry"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("poetry")


class PoetryLocker:
    """Resolve with ``poetry lock`` when poetry.lock is missing or stale, then convert it."""

    name = "poetry"

    def __init__(self, index_urls: list[str], options: list[IndexOption]) -> None:
        self.index_urls = index_urls
        self.options = options

    def version(self) -> str:
        """Return ``poetry X.Y.Z``, or the poetry-core that reads the lock without Poetry."""
        try:
            return f"poetry {importlib.metadata.version('poetry')}"
        except importlib.metadata.PackageNotFoundError:
            core = importlib.metadata.version("poetry-core")
            return f"poetry (poetry.lock read by poetry-core {core})"

    def extra_inputs(self, request: LockRequest) -> list[Path]:
        """poetry.lock is an input too: a `poetry lock` run by hand changes the result."""
        lock = request.root / "poetry.lock"
        return [lock] if lock.is_file() else []

    def in_sync(self, request: LockRequest) -> list[str]:
        """Return why poetry.lock does not fit pyproject.toml (empty when it does)."""
        lock = request.root / "poetry.lock"
        if not lock.is_file():
            return ["poetry.lock does not exist"]
        return self._stale(request)

    def generate(self, request: LockRequest, out: Path) -> str:
        """Refresh poetry.lock when needed, then write the variant's hashed requirements."""
        if request.exclude_newer:
            raise EnvironmentMissing(
                "Poetry cannot resolve as of a date (it has no option to leave out files "
                "uploaded later); of the lock tools, only uv and pip-tools (with pip >= 26) can",
                hint="remove lock.exclude_newer / --as-of, or set `lock: {tool: uv}` in "
                "repro.yaml (uv reads pyproject.toml too)",
            )
        lock = request.root / "poetry.lock"
        upgrading = request.upgrade or bool(request.upgrade_packages)
        if upgrading or not lock.is_file() or self._stale(request):
            self._run_poetry(request, lock.is_file())
        text = convert(request.root, read_toml(lock, "poetry.lock"), request.variant,
                       request.target, request.extras, request.groups)  # fmt: skip
        out.write_text(text, encoding="utf-8")
        return self.version()

    def _stale(self, request: LockRequest) -> list[str]:
        """Ask Poetry when it is installed; otherwise check every declared pin is in the lock."""
        exe = find_poetry()
        if exe is not None:
            with _side_effects_kept_aside() as env:
                proc = run_tool([exe, "check", "--lock", "--no-interaction"], cwd=request.root,
                                env=env, missing_hint=_HINT)  # fmt: skip
            if proc.returncode != 0 and "poetry.lock" in proc.stdout + proc.stderr:
                return ["poetry.lock is out of date with pyproject.toml"]
            return []
        data = read_toml(request.root / "poetry.lock", "poetry.lock")
        try:
            convert(request.root, data, request.variant, request.target)
        except ConfigError as error:
            return [error.problems[0]]
        return []

    def _run_poetry(self, request: LockRequest, have_lock: bool) -> None:
        exe = find_poetry()
        if exe is None:
            raise EnvironmentMissing(
                "this is a Poetry project and poetry.lock "
                + ("is out of date" if have_lock else "does not exist")
                + ", but Poetry is not installed",
                hint=f"{_HINT}, or run `poetry lock` where Poetry is installed",
            )
        if request.upgrade:
            argv = [exe, "update", "--lock"]
        elif request.upgrade_packages:
            argv = [exe, "update", "--lock", *request.upgrade_packages]
        else:
            argv = [exe, "lock"]
        with _side_effects_kept_aside() as env:
            proc = run_tool([*argv, "--no-interaction"], cwd=request.root, env=env,
                            missing_hint=_HINT)  # fmt: skip
        if proc.returncode != 0:
            raise explain("poetry", proc.stderr + proc.stdout, "poetry.lock", self.index_urls)


@contextlib.contextmanager
def _side_effects_kept_aside() -> Iterator[dict[str, str]]:
    """Yield the environment Poetry runs in: virtualenvs go to a temporary folder, removed after.

    Locking needs no environment, but Poetry makes one for the project with the host's
    Python (in ~/.cache/pypoetry/virtualenvs) when it looks for the project's interpreter;
    that is a host side effect, and the wrong Python besides.
    """
    with tempfile.TemporaryDirectory(prefix="repro-poetry-") as folder:
        yield tool_env({"POETRY_VIRTUALENVS_PATH": folder, "POETRY_VIRTUALENVS_CREATE": "false",
                        "POETRY_VIRTUALENVS_IN_PROJECT": "false"})  # fmt: skip


def _marker_ok(marker: str | None, env: dict[str, Any]) -> bool:
    from poetry.core.version.markers import parse_marker

    return not marker or bool(parse_marker(marker).validate(env))


def _dep_specs(spec: Any) -> Iterable[dict[str, Any]]:
    """Normalise a poetry.lock dependency value (text, table or list of tables)."""
    items = spec if isinstance(spec, list) else [spec]
    for item in items:
        yield {"version": item} if isinstance(item, str) else dict(item)


class _Walk:
    """Select the lock entries a target installs, starting from the declared dependencies."""

    def __init__(self, data: dict[str, Any], target: Target) -> None:
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        for entry in data.get("package", []):
            self.by_name.setdefault(canonical(entry["name"]), []).append(entry)
        self.legacy_files: dict[str, Any] = data.get("metadata", {}).get("files", {})
        self.env: dict[str, Any] = target.marker_env()
        self.selected: dict[str, dict[str, Any]] = {}
        self.extras: dict[str, set[str]] = {}
        self.via: dict[str, set[str]] = {}

    def pick(self, name: str, constraint: str, via: str) -> dict[str, Any]:
        from poetry.core.constraints.version import Version, parse_constraint

        allowed = parse_constraint(constraint or "*")
        for entry in self.by_name.get(name, []):
            if allowed.allows(Version.parse(str(entry["version"]))):
                return entry
        raise ConfigError(
            [f"poetry.lock has no {name} {constraint or '*'} (needed by {via})"],
            hint="run `poetry lock` (or `repro lock --upgrade`) to bring poetry.lock up to date",
        )

    def visit(self, name: str, constraint: str, extras: Iterable[str], via: str) -> None:
        key = canonical(name)
        entry = self.pick(key, constraint, via)
        known = self.selected.get(key)
        new_extras = set(extras) - self.extras.get(key, set())
        self.via.setdefault(key, set()).add(via)
        if known is not None and not new_extras:
            return
        self.selected[key] = entry
        self.extras.setdefault(key, set()).update(new_extras)
        active = self.extras[key]
        offered = {
            canonical(spec.split(" ")[0].split(";")[0].split("[")[0])
            for extra in active
            for spec in entry.get("extras", {}).get(extra, [])
        }
        for dep_name, spec in entry.get("dependencies", {}).items():
            for item in _dep_specs(spec):
                if item.get("optional") and canonical(dep_name) not in offered:
                    continue
                contexts = [{**self.env, "extra": e} for e in sorted(active)] or [self.env]
                if not any(_marker_ok(item.get("markers"), env) for env in contexts):
                    continue
                self.visit(dep_name, str(item.get("version", "*")), item.get("extras", []), key)

    def hashes(self, entry: dict[str, Any]) -> list[str]:
        files = entry.get("files") or self.legacy_files.get(entry["name"], [])
        return sorted({str(f["hash"]) for f in files if str(f.get("hash", "")).startswith("sha")})


def convert(
    root: Path,
    data: dict[str, Any],
    variant: str,
    target: Target,
    extras: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
) -> str:
    """Return the hashed requirements of ``variant`` (main group, or every group for dev).

    ``extras`` (Poetry extras) and ``groups`` (besides main) go into prod as well.

    Raises ConfigError when poetry.lock lacks a declared package or pins one without hashes.
    """
    from poetry.core.constraints.version import Version
    from poetry.core.factory import Factory

    try:
        package = Factory().create_poetry(root).package
    except Exception as exc:  # poetry-core raises plain RuntimeError/ValueError for bad input
        raise ConfigError([f"pyproject.toml: Poetry cannot read it: {exc}"]) from exc
    if not package.python_constraint.allows(Version.parse(target.python)):
        raise ConfigError(
            [f"pyproject.toml allows Python {package.python_versions}, repro.yaml asks for "
             f"{target.python}"],
            hint="make tool.poetry.dependencies.python include the image's Python",
        )  # fmt: skip
    unknown = [g for g in groups if not package.has_dependency_group(g)]
    unknown += [e for e in extras if e not in {str(x) for x in package.extras}]
    if unknown:
        known = sorted({*package.dependency_group_names(), *map(str, package.extras)} - {"main"})
        raise ConfigError(
            [f"repro.yaml: lock: pyproject.toml has no extra or group {', '.join(unknown)}"],
            hint=f"it has: {', '.join(known) or 'none'}",
        )
    chosen = ["main", *groups] if variant == "prod" else sorted(package.dependency_group_names())
    wanted = {str(d.name) for e in extras for d in package.extras.get(e, [])}  # type: ignore[call-overload]
    walk = _Walk(data, target)
    for group in chosen:
        for dep in package.dependency_group(group).dependencies:
            optional = dep.is_optional() and str(dep.name) not in wanted
            if optional or not dep.marker.validate(walk.env):
                continue
            walk.visit(dep.name, str(dep.constraint), dep.extras, "pyproject.toml")
    lines = []
    for key in sorted(walk.selected):
        entry = walk.selected[key]
        source = entry.get("source", {})
        if source.get("type") not in (None, "legacy"):
            raise ConfigError(
                [f"poetry.lock takes {entry['name']} from a {source['type']} source; a hashed "
                 "lock needs every package from an index"],
                hint="publish it to an index (or a --find-links folder) and depend on a version",
            )  # fmt: skip
        hashes = walk.hashes(entry)
        if not hashes:
            raise ConfigError([f"poetry.lock has no file hashes for {entry['name']}"],
                              hint="run `poetry lock --regenerate`")  # fmt: skip
        lines.append(f"{entry['name']}=={entry['version']} \\")
        lines += [f"    --hash={h} \\" for h in hashes[:-1]] + [f"    --hash={hashes[-1]}"]
        lines.append(f"    # via {', '.join(sorted(walk.via[key]))}")
    return "\n".join(lines) + "\n"
