"""``repro run --deterministic``: the controls set before the command starts, and the record.

Two halves. Environment variables that libraries read at start-up (hash seed, cuBLAS
workspace, TensorFlow's switches) are set here. Seeding ``random``, NumPy and torch has to
happen inside the command's interpreter, so a startup hook (``hook/sitecustomize.py``, put
first on ``PYTHONPATH``) does it as each library is imported and reports what it did into the
run folder; ``settle`` folds that report into ``run.yaml``'s ``determinism:`` block, saying
what was applied and what could not be (a library not installed, not imported, a call that
failed). The record never claims a seed that the hook did not report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reprostack.record.sections import DeterminismSection

HOOK_DIR = Path(__file__).resolve().parent / "hook"
# Where a container finds the hook (mounted read-only, like the fingerprint probe).
HOOK_MOUNT = "/opt/reprostack-determinism"
REPORT_FILE = "determinism.jsonl"
SEED_VARIABLE = "REPRO_DETERMINISTIC_SEED"
REPORT_VARIABLE = "REPRO_DETERMINISM_REPORT"

# cuBLAS is deterministic only with a fixed workspace (NVIDIA's cuBLAS docs, "Results
# reproducibility"); both documented settings are accepted, :4096:8 is set when neither is.
CUBLAS_SETTINGS = (":4096:8", ":16:8")
FIXED_ENV = {"TF_DETERMINISTIC_OPS": "1", "TF_CUDNN_DETERMINISTIC": "1"}
# What the hook seeds, by the module whose import triggers it, and the package that ships it.
LIBRARIES = {"random": None, "numpy": "numpy", "torch": "torch"}


def deterministic_env(
    seed: int, env: Mapping[str, str], *, hook_dir: str, report: str
) -> dict[str, str]:
    """Return the variables ``--deterministic`` adds to the command's environment ``env``.

    ``hook_dir`` goes first on ``PYTHONPATH`` (as seen by the command: a container path in a
    container); ``report`` is where the hook writes what it did.
    """
    cublas = env.get("CUBLAS_WORKSPACE_CONFIG")
    pythonpath = env.get("PYTHONPATH")
    return {
        "PYTHONHASHSEED": str(seed),
        "CUBLAS_WORKSPACE_CONFIG": cublas if cublas in CUBLAS_SETTINGS else CUBLAS_SETTINGS[0],
        **FIXED_ENV,
        "PYTHONPATH": f"{hook_dir}{os.pathsep}{pythonpath}" if pythonpath else hook_dir,
        SEED_VARIABLE: str(seed),
        REPORT_VARIABLE: report,
    }


def planned(seed: int, env: Mapping[str, str]) -> DeterminismSection:
    """The ``determinism:`` block written before the command starts (nothing applied yet)."""
    names = ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", *FIXED_ENV)
    return {
        "seed": seed,
        "env": {name: env[name] for name in sorted(names)},
        "hook": "python startup hook (sitecustomize on PYTHONPATH)",
        "applied": {},
        "not_applied": {},
    }


def read_report(path: Path) -> list[dict[str, Any]]:
    """The hook's lines (one per library per process); damaged lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("library"), str):
            entries.append(entry)
    return entries


def settle(
    block: DeterminismSection, entries: Iterable[dict[str, Any]], packages: Iterable[str]
) -> DeterminismSection:
    """Return ``block`` with what the hook reported and, for every library, why not if not.

    ``packages`` are the installed distributions the command saw (the fingerprint's), which
    tell "not installed" from "installed but never imported by the command".
    """
    installed = set(packages)
    applied: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    processes: set[int] = set()
    for entry in entries:
        library = entry["library"]
        if library == "python":  # the hook's own start-up line, one per interpreter
            processes.add(entry.get("pid") or 0)
            continue
        for action in entry.get("applied") or []:
            actions = applied.setdefault(library, [])
            if action not in actions:
                actions.append(str(action))
        for action, error in (entry.get("failed") or {}).items():
            failed.setdefault(library, f"{action} failed: {error}")
    not_applied: dict[str, str] = {}
    for library, package in LIBRARIES.items():
        if library in failed:
            not_applied[library] = failed[library]
        elif library in applied:
            continue
        elif not processes:
            not_applied[library] = (
                "the startup hook never ran (the command started no Python, or started it "
                "with -I, -E or -S, which skip PYTHONPATH or sitecustomize)"
            )
        elif package is not None and package not in installed:
            not_applied[library] = "not installed"
        else:
            not_applied[library] = "never imported by the command"
    return {**block, "applied": applied, "not_applied": not_applied, "processes": len(processes)}
