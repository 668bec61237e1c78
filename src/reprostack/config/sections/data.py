"""``data:``: the named datasets runs read, each a folder or a single file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reprostack.config.keys import FROM_CODE
from reprostack.config.reader import FieldReader, Reader, Slot, kind
from reprostack.config.sections.image import NAME_RE

HashAlgorithm = Literal["blake3", "sha256"]


@dataclass(frozen=True)
class DatasetConfig:
    """One named dataset: ``data.<name>`` in repro.yaml (a folder, or a single file)."""

    name: str = field(metadata=FROM_CODE)
    path: Path  # absolute, ``~`` expanded; relative paths are relative to repro.yaml
    written: str = field(metadata=FROM_CODE)  # the path as repro.yaml spells it (manifests)
    toy: Path | None = None
    # "" when repro.yaml does not name one: the data layer settles it (the committed
    # manifest's algorithm, else blake3) so that a default never rehashes a manifest.
    algorithm: HashAlgorithm | Literal[""] = ""


def read_data(reader: Reader, slot: Slot) -> dict[str, DatasetConfig]:
    """``data:``: a mapping of NAME to a dataset."""
    if slot.raw is None:
        return {}
    if not isinstance(slot.raw, dict):
        reader.problem(
            slot.path, f"expected a mapping of NAME: {{path: ...}}, got {kind(slot.raw)}"
        )
        return {}
    datasets = {}
    for key, value in slot.raw.items():
        name = str(key)
        dataset = _dataset(reader, name, value)
        if dataset is not None:
            datasets[name] = dataset
    return dict(sorted(datasets.items()))


def _dataset(reader: Reader, name: str, raw: Any) -> DatasetConfig | None:
    where = ("data", name)
    if not NAME_RE.match(name):
        # The name is a file name (lockfiles/data/<name>.json) and a fingerprint key.
        reader.problem(where, "a dataset name uses lowercase letters, digits, '.', '_' or '-'")
    # `name: /path` is short for `name: {path: /path}`.
    if isinstance(raw, str):
        raw = {"path": raw}
    elif not isinstance(raw, dict):
        reader.problem(where, f"expected {{path: ..., toy: ...}} or a path, got {kind(raw)}")
        return None
    values = reader.fields(DatasetConfig, raw, where)
    written = values.pop("path")
    if not written:
        return None
    return DatasetConfig(name, resolve(reader.root, written), written, **values)


def _path(reader: Reader, slot: Slot) -> str | None:
    """The path as written (resolved by the caller, which also needs the text)."""
    written = reader.text(slot.data, slot.key, slot.section, None)
    if not written:
        reader.problem(slot.path, "missing; give the dataset's folder or file")
    elif not resolve(reader.root, written).exists():
        reader.warning(
            slot.path, f"{written} does not exist on this machine; commands that read it will stop"
        )
    return written


def _toy(reader: Reader, slot: Slot) -> Path | None:
    written = reader.text(slot.data, slot.key, slot.section, None)
    if not written:
        return None
    toy = resolve(reader.root, written)
    path = resolve(reader.root, slot.values["path"]) if slot.values["path"] else None
    if path is not None and (toy == path or path in toy.parents):
        reader.problem(slot.path, "the toy subset must live outside the dataset")
    return toy


def resolve(root: Path, written: str) -> Path:
    """Absolute, with ``~`` expanded; relative to repro.yaml's folder otherwise."""
    path = Path(written).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else root / path))


CHECKS: dict[str, FieldReader] = {"path": _path, "toy": _toy}
