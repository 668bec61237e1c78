"""What a run read: the files a Python command opened, hashed after it, and the runs they
came from.

The start-up hook (``determinism/hook/sitecustomize.py``, which does both jobs) writes the
paths; ``recorder.InputsRecorder`` turns them into ``runs/<id>/inputs.json`` and run.yaml's
``inputs`` summary and ``inputs_from`` links; ``check`` compares them with the disk
(replay, ``repro data status --inputs``); ``lineage`` walks the links between runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from reprostack.config import Config
from reprostack.determinism import HOOK_DIR

INPUTS_FILE = "inputs.json"
# The hook's per-process logs: ``<run>/.inputs.log.<host>.<pid>``.
LOG_NAME = ".inputs.log"
LOG_VARIABLE = "REPRO_INPUTS_LOG"


def capture_on(config: Config) -> bool:
    """Whether runs of this project record what they read (``run.inputs``, on by default)."""
    return config.run.inputs.capture


def inputs_env(env: Mapping[str, str], *, hook_dir: str | None, log: str) -> dict[str, str]:
    """The variables that switch the hook's capture on: the hook folder first on
    ``PYTHONPATH`` (once, shared with ``--deterministic``) and where each process logs."""
    folder = hook_dir or str(HOOK_DIR)
    pythonpath = env.get("PYTHONPATH")
    parts = pythonpath.split(os.pathsep) if pythonpath else []
    if parts[:1] != [folder]:
        parts.insert(0, folder)
    return {"PYTHONPATH": os.pathsep.join(parts), LOG_VARIABLE: log}
