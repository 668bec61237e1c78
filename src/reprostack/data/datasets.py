"""Pick the datasets a command works on, and where their manifests live."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from reprostack.config import LOCK_DIR, Config, DatasetConfig
from reprostack.data.hashing import ALGORITHMS, DEFAULT_ALGORITHM
from reprostack.data.integrity import DamagedManifest
from reprostack.data.manifest import read_header
from reprostack.errors import EnvironmentMissing, UsageError

MANIFEST_DIR = Path(LOCK_DIR) / "data"


def manifest_path(config: Config, name: str) -> Path:
    """``lockfiles/data/<name>.json`` of the project."""
    return config.root / MANIFEST_DIR / f"{name}.json"


def select(config: Config, names: Sequence[str] = ()) -> list[DatasetConfig]:
    """The datasets named (all of them when ``names`` is empty), in repro.yaml's order."""
    if not config.data:
        raise UsageError(
            "repro.yaml names no datasets",
            hint="add one under data:, e.g.  data: {mnist: {path: /data/mnist}}",
        )
    unknown = [name for name in names if name not in config.data]
    if unknown:
        raise UsageError(
            f"no dataset named {', '.join(unknown)} in repro.yaml",
            hint=f"known datasets: {', '.join(config.data)}",
        )
    return [settled(config, config.data[name]) for name in (names or config.data)]


def settled(config: Config, dataset: DatasetConfig) -> DatasetConfig:
    """The dataset with its hash algorithm decided: repro.yaml's when it names one; else the
    committed manifest's, so that a manifest keeps the algorithm it was written with when the
    default moves (it moved from sha256 to blake3); else the default."""
    return with_algorithm(dataset, manifest_path(config, dataset.name))


def with_algorithm(dataset: DatasetConfig, manifest: Path) -> DatasetConfig:
    """``dataset`` as is when it names its algorithm; else with that of ``manifest`` (when
    there is one) or the default."""
    if dataset.algorithm:
        return dataset
    try:
        algorithm = (read_header(manifest) or {}).get("algorithm")
    except DamagedManifest as exc:  # the algorithm it claims, for the scan that rewrites it
        algorithm = exc.claimed.get("algorithm")
    if algorithm not in ALGORITHMS:
        algorithm = DEFAULT_ALGORITHM
    return dataclasses.replace(dataset, algorithm=algorithm)


def require_path(dataset: DatasetConfig) -> Path:
    """The dataset's path; a missing one is an error now that a command needs it (exit 3)."""
    if not dataset.path.exists():
        raise EnvironmentMissing(
            f"dataset {dataset.name}: {dataset.written} does not exist on this machine",
            hint=f"mount or copy the data there, or change data.{dataset.name}.path in repro.yaml",
        )
    return dataset.path
