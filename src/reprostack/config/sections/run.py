"""``run:``: how ``repro run`` behaves by default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reprostack.config.reader import FieldReader, Reader, Slot, each_matching
from reprostack.config.sections.env import ENV_NAME_RE
from reprostack.mounts import MOUNT_FORM, MOUNT_RE

RunMode = Literal["local", "dev", "prod"]

GPUS_RE = re.compile(r"^(?:auto|none|all|\d+|device=[\w,-]+|\"?device=[\w,-]+\"?)$")


@dataclass(frozen=True)
class InputsConfig:
    """``run.inputs``: what a run records of the files it read (runs/<id>/inputs.json).

    Written ``run.inputs: off`` (or ``on``) for the switch alone, or as a mapping.
    """

    # Record every file a Python command opens for reading.
    capture: bool = True
    # Inputs larger than this are identified by size+mtime+inode, not hashed (--hash-inputs).
    hash_limit: str = "1GiB"

    @property
    def hash_limit_bytes(self) -> int:
        """``hash_limit`` in bytes (a checked value: it parses)."""
        return parse_size(self.hash_limit) or 0


@dataclass(frozen=True)
class RunConfig:
    """How ``repro run`` behaves by default: ``run:`` in repro.yaml."""

    mode: RunMode = "local"
    gpus: str = "auto"  # auto | none | all | docker's --gpus syntax
    mounts: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    dir: str = "runs"
    # Seed random/NumPy/torch and set the determinism switches for every run.
    deterministic: bool = False
    # What a run records of the files it read.
    inputs: InputsConfig = InputsConfig()


SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_size(text: str) -> int | None:
    """``1GiB``, ``500MB``, ``1024`` in bytes; None when it is not a size."""
    match = SIZE_RE.match(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


def _size(reader: Reader, slot: Slot) -> str:
    # A plain number is a byte count: `hash_limit: 1000000` needs no quotes.
    if isinstance(slot.raw, int) and not isinstance(slot.raw, bool):
        return str(slot.raw)
    size: str = reader.typed(slot)
    if parse_size(size) is None:
        reader.problem(slot.path, f"'{size}' is not a size (a byte count, or 1GiB, 500MB ...)")
        return str(slot.default)
    return size


def _inputs(reader: Reader, slot: Slot) -> InputsConfig:
    # `inputs: off` (YAML reads off/on as booleans) is the switch alone; else a mapping.
    if isinstance(slot.raw, bool):
        return InputsConfig(capture=slot.raw)
    if slot.raw is None:
        return InputsConfig()
    read: InputsConfig = reader.section(InputsConfig, slot.raw, slot.path)
    return read


def _gpus(reader: Reader, slot: Slot) -> str:
    # A count is docker's --gpus syntax too: `gpus: 2` needs no quotes.
    counted = isinstance(slot.raw, int) and not isinstance(slot.raw, bool)
    gpus: str = str(slot.raw) if counted else reader.typed(slot)
    what = "a GPU request (auto, none, all, a count, or 'device=0,1')"
    reader.matches(gpus, slot.path, GPUS_RE, what)
    return gpus


def _dir(reader: Reader, slot: Slot) -> str:
    run_dir: str = reader.typed(slot)
    if Path(run_dir).is_absolute() or ".." in Path(run_dir).parts:
        reader.problem(slot.path, f"'{run_dir}' must be a folder inside the project")
    elif not Path(run_dir).parts:
        reader.problem(
            slot.path,
            f"'{run_dir}' is the project itself; runs need a folder of their own: try 'runs'",
        )
    elif Path(run_dir).parts[0] == ".git":
        reader.problem(slot.path, f"'{run_dir}' is inside .git; try 'runs'")
    return run_dir


CHECKS: dict[str, FieldReader] = {
    "gpus": _gpus,
    "mounts": each_matching(MOUNT_RE, MOUNT_FORM),
    "pass_env": each_matching(ENV_NAME_RE, "an environment variable name"),
    "dir": _dir,
    "inputs": _inputs,
}

INPUTS_CHECKS: dict[str, FieldReader] = {"hash_limit": _size}
