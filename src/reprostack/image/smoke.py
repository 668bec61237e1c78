"""The import smoke test a build runs in the image it made: each direct dependency's modules.

Two packages that cannot work together (a torch and a torchaudio built for each other's
neighbours) install fine and fail at the first ``import``: at run time, far from the build.
After a build, every module of the project's direct dependencies is imported once in the new
image, each in its own interpreter with a time limit (a hang or a crash fails that module
only). Import names come from the installed metadata inside the image (``top_level.txt``,
else the files ``RECORD`` lists); a distribution with no importable module is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.config import Config
from reprostack.engine import ContainerSpec, Engine
from reprostack.lock.header import read_lock_header
from reprostack.locktext import parse_pins

PER_IMPORT_S = 60
TOTAL_S = 300

# Runs inside the image (python3 -c SCRIPT NAMES_JSON): standard library only.
SCRIPT = r"""
import importlib.metadata as md, json, subprocess, sys, time
names, per, total = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + total
report = {"checked": [], "failed": {}, "skipped": [], "absent": []}

def modules(dist):
    text = dist.read_text("top_level.txt")
    found = set()
    if text:
        found = {line.strip() for line in text.splitlines() if line.strip()}
    else:
        for entry in dist.files or []:
            parts = entry.parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(
                (".dist-info", ".data", ".egg-info", ".pth")
            ):
                continue
            if len(parts) == 1 and parts[0].endswith(".py"):
                found.add(parts[0][:-3])
            elif len(parts) == 1 and parts[0].endswith(".so"):
                found.add(parts[0].split(".")[0])
            elif len(parts) > 1 and parts[-1].endswith((".py", ".so")):
                found.add(parts[0])
    return sorted(
        m for m in found
        if m.isidentifier() and not m.startswith("_") and m not in ("test", "tests")
    )

for name in names:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        report["absent"].append(name)
        continue
    mods = modules(dist)
    if not mods:
        report["skipped"].append(name)
        continue
    for module in mods:
        left = deadline - time.monotonic()
        if left <= 0:
            report["failed"][module] = [name, "not tried: the smoke test ran out of time"]
            continue
        try:
            done = subprocess.run([sys.executable, "-c", "import " + module],
                                  capture_output=True, text=True, timeout=min(per, left))
        except subprocess.TimeoutExpired:
            report["failed"][module] = [name, "import took over %d s" % min(per, left)]
            continue
        if done.returncode != 0:
            lines = [l for l in done.stderr.strip().splitlines() if l.strip()]
            why = lines[-1] if lines else "exit %d" % done.returncode
            report["failed"][module] = [name, why]
        else:
            report["checked"].append(module)
print(json.dumps(report))
"""

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class SmokeResult:
    """What the smoke test imported: module -> (distribution, the error's last line)."""

    checked: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # distributions with no module
    problem: str | None = None  # the test itself could not run (said, not fatal)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_dependencies(config: Config, variant: str) -> list[str]:
    """The distributions the lock's inputs name (not what they pull in), as locked.

    Read from the inputs each lock's header lists (``requirements.in``, ``pyproject.toml``
    with its extras, Poetry's dependencies); a name the lock does not pin is left out.
    """
    from reprostack.config import LOCK_DIR

    variants = ("prod", "dev") if variant == "dev" else ("prod",)
    names: list[str] = []
    pinned: set[str] = set()
    for name in variants:
        lock = config.root / LOCK_DIR / f"{name}.txt"
        if not lock.is_file():
            continue
        pinned |= {normalise(pin) for pin in parse_pins(lock.read_text("utf-8"))}
        try:
            header = read_lock_header(lock)
        except Exception:  # a lock without a header: nothing names its inputs
            continue
        labels = list(header.inputs)
        if not labels:  # a lock written by hand names no inputs: repro.yaml's, or the usual
            given = config.lock.inputs if name == "prod" else config.lock.dev_inputs
            labels = list(given) or (["requirements.in"] if name == "prod" else [])
        for label in labels:
            names += _names_in(config.root, label)
    seen: dict[str, None] = {}
    for name in names:
        if normalise(name) in pinned:
            seen.setdefault(normalise(name))
    return list(seen)


def _names_in(root: Path, label: str) -> list[str]:
    path_text, _, extras_text = label.partition("[")
    path = root / path_text.strip()
    if not path.is_file() or (path.suffix == ".txt" and path.parent.name == "lockfiles"):
        return []
    if path.suffix == ".toml":
        extras = [e.strip() for e in extras_text.rstrip("]").split(",") if e.strip()]
        return _names_in_pyproject(path, extras)
    names = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match:
            names.append(match.group(1))
    return names


def _names_in_pyproject(path: Path, extras: list[str]) -> list[str]:
    from reprostack.lock.detect import read_toml

    data = read_toml(path, path.name)
    project = data.get("project") or {}
    specs = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for extra in extras:
        specs += list(optional.get(extra) or [])
    names = [m.group(1) for m in map(_NAME.match, specs) if m]
    poetry = (data.get("tool") or {}).get("poetry") or {}
    names += [name for name in poetry.get("dependencies") or {} if name.lower() != "python"]
    return names


def smoke_test(engine: Engine, image_id: str, distributions: list[str]) -> SmokeResult:
    """Import every module of ``distributions`` in ``image_id``; return what failed."""
    if not distributions:
        return SmokeResult()
    done = engine.run(
        ContainerSpec(
            image=image_id,
            command=(
                "python3",
                "-c",
                SCRIPT,
                json.dumps(distributions),
                str(PER_IMPORT_S),
                str(TOTAL_S),
            ),
            entrypoint=(),
            network="none",
            user="65534:65534",  # nobody: importing needs to write nothing
            env={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
        )
    )
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines and done.exit_code == 0 else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return SmokeResult(problem=(stderr[-1] if stderr else f"exit {done.exit_code}"))
    return SmokeResult(
        checked=list(report.get("checked") or []),
        failed={module: (str(v[0]), str(v[1])) for module, v in report["failed"].items()},
        skipped=list(report.get("skipped") or []),
    )


def check_imports(
    config: Config, variant: str, image_id: str, tag: str, engine: Engine
) -> list[str]:
    """Run the smoke test on a built image; return what to tell the user.

    Raises CheckFailed (exit 1) naming every module that does not import; the image stays
    (tagged ``tag``) so that it can be looked into.
    """
    from reprostack.errors import CheckFailed

    result = smoke_test(engine, image_id, direct_dependencies(config, variant))
    if result.problem is not None:
        return [f"warning: the import smoke test could not run in {tag}: {result.problem}"]
    if result.failed:
        lines = [
            f"import {module} (from {dist}) fails in {tag}: {why}"
            for module, (dist, why) in sorted(result.failed.items())
        ]
        count = len(result.failed)
        raise CheckFailed(
            "\n".join(lines) + f"\n{count} module{'s' if count > 1 else ''} of the direct "
            f"dependencies do{'' if count > 1 else 'es'} not import in the {variant} image; "
            f"the image is kept as {tag}",
            hint="pin versions that work together and run `repro lock` again; "
            "build.smoke_test: false in repro.yaml skips this check",
        )
    if not result.checked:
        return []
    shown = ", ".join(result.checked[:8]) + (", …" if len(result.checked) > 8 else "")
    return [f"import smoke test: {len(result.checked)} modules import ({shown})"]
