"""The data a recorded run read: check it before a replay, compare it between two runs.

A run's ``env/lockfiles/data/`` keeps the manifests of its day, so both can name the files
that differ, not only the datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprostack.config import Config, DatasetConfig
from reprostack.data.datasets import MANIFEST_DIR
from reprostack.data.manifest import Manifest, read_manifest
from reprostack.data.status import DataChanges, compare_manifests, status_against
from reprostack.errors import CheckFailed

# How many changed paths a message names before "and N more".
SHOWN = 5


def recorded_manifest(run_folder: Path, name: str, digest: str | None) -> Manifest | None:
    """The manifest copied into the run's env/, when it describes the recorded digest."""
    path = run_folder / "env" / MANIFEST_DIR / f"{name}.json"
    if digest is None or not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
    except Exception:  # a damaged copy names no files; the digest check still stands
        return None
    return manifest if manifest.digest == digest else None


def check_replay_data(
    config: Config, run_id: str, run_folder: Path, recorded_fp: Mapping[str, Any]
) -> list[str]:
    """Problems that stop a replay: each dataset whose data differs from what the run read.

    The data is rehashed where its size, mtime or inode changed (the cache spares the rest).
    """
    problems = []
    for name, facts in sorted((recorded_fp.get("data") or {}).items()):
        dataset = _dataset_for(config, name, facts)
        recorded = facts.get("digest")
        if recorded is None:
            problems.append(
                f"{name}: run {run_id} read data that was not checked against a manifest "
                f"(matches_manifest: {facts.get('matches_manifest')}), so it cannot be compared"
            )
            continue
        if not dataset.path.exists():
            problems.append(f"{name}: {dataset.path} does not exist on this machine")
            continue
        manifest = recorded_manifest(run_folder, name, recorded)
        if manifest is None:
            manifest = Manifest(header={"digest": recorded})
        status = status_against(dataset, manifest)
        if status.digest == recorded:
            continue
        problems.append(f"{name}: {dataset.path} differs from what run {run_id} read "
                        f"({recorded} -> {status.digest})")  # fmt: skip
        if manifest.entries or manifest.symlinks or manifest.empty_folders:
            problems.extend(f"  {line}" for line in describe_changes(status.changes))
    return problems


def refuse_if_data_differs(
    config: Config, run_id: str, run_folder: Path, recorded_fp: Mapping[str, Any], force: bool
) -> None:
    """Raise CheckFailed (exit 1, nothing runs) when the data differs, unless ``force``."""
    if force:
        return
    problems = check_replay_data(config, run_id, run_folder, recorded_fp)
    if problems:
        raise CheckFailed(
            f"the data differs from what run {run_id} read; nothing was run:\n"
            + "\n".join(problems),
            hint="restore the data (`repro data status NAME` lists the files), "
            "or pass --force to run anyway",
        )


def describe_changes(changes: DataChanges, shown: int = SHOWN) -> list[str]:
    """``modified a.png``-style lines, the first ``shown`` of them and a count of the rest."""
    lines = [f"modified {p}" for p in changes.modified]
    lines += [f"added {p}" for p in changes.added]
    lines += [f"removed {p}" for p in changes.removed]
    lines += [f"renamed {old} -> {new}" for old, new in changes.renamed]
    if len(lines) > shown:
        return [*lines[:shown], f"... and {len(lines) - shown} more"]
    return lines


def run_data_changes(
    folder_a: Path, fp_a: Mapping[str, Any], folder_b: Path, fp_b: Mapping[str, Any]
) -> list[str]:
    """File-level lines for ``repro diff``: which files of each changed dataset differ."""
    lines = []
    data_a, data_b = fp_a.get("data") or {}, fp_b.get("data") or {}
    for name in sorted(set(data_a) & set(data_b)):
        digest_a, digest_b = data_a[name].get("digest"), data_b[name].get("digest")
        if digest_a == digest_b:
            continue
        old = recorded_manifest(folder_a, name, digest_a)
        new = recorded_manifest(folder_b, name, digest_b)
        if old is None or new is None:
            continue
        changes = compare_manifests(old, new)
        lines.append(f"data.{name}: {_count(changes)}")
        lines.extend(f"  {line}" for line in describe_changes(changes))
    return lines


def _count(changes: DataChanges) -> str:
    parts = [
        f"{len(items)} {what}"
        for what, items in (
            ("modified", changes.modified),
            ("added", changes.added),
            ("removed", changes.removed),
            ("renamed", changes.renamed),
        )
        if items
    ]
    return ", ".join(parts) + " files"


def _dataset_for(config: Config, name: str, facts: dict[str, Any]) -> DatasetConfig:
    """repro.yaml's dataset of that name, else the path the run recorded."""
    dataset = config.data.get(name)
    if dataset is not None:
        return dataset
    path = Path(str(facts.get("path")))
    return DatasetConfig(name, path, str(path))
