"""Pick the datasets a command works on, and where their manifests live."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reprostack.config import Config, DatasetConfig
from reprostack.errors import EnvironmentMissing, UsageError

MANIFEST_DIR = Path("lockfiles") / "data"


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
    return [config.data[name] for name in (names or config.data)]


def require_path(dataset: DatasetConfig) -> Path:
    """The dataset's path; a missing one is an error now that a command needs it (exit 3)."""
    if not dataset.path.exists():
        raise EnvironmentMissing(
            f"dataset {dataset.name}: {dataset.written} does not exist on this machine",
            hint=f"mount or copy the data there, or change data.{dataset.name}.path in repro.yaml",
        )
    return dataset.path
