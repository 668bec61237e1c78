"""The stack recorder: ``fingerprint.json``, the code (``source.patch``) and the lock hashes."""

from __future__ import annotations

from collections.abc import Callable

from reprostack.atomic import write_bytes
from reprostack.fingerprint.project import project_fingerprint
from reprostack.record.fingerprint import Fingerprint
from reprostack.record.recorder import Recorder, RunContext
from reprostack.record.run import PATCH_FILE, SUBMODULE_PATCHES

# Turns the host's fingerprint into the run's: a container run takes Python, packages, OS and
# CUDA from inside its image (``image.fingerprint.merge``).
Adjust = Callable[[Fingerprint], Fingerprint]


class StackRecorder(Recorder):
    """Owns ``fingerprint.json`` (but its ``data``), ``source.patch``, ``submodules/`` and
    run.yaml's ``git_sha``, ``dirty``, ``git_error``, ``source_left_out``, ``lock_hashes``.

    Git and the machine are read once, together (git runs while the package metadata is
    read); the patch is written before the command can change the tree.
    """

    name = "stack"

    def __init__(self, adjust: Adjust | None = None) -> None:
        self._adjust = adjust

    def before_start(self, run: RunContext) -> None:
        host, state = project_fingerprint(run.config, run.env, data=False)
        git = host["git"]
        if run.request.branch and git is not None and git.get("branch") is None:
            host["git"] = {**git, "branch": run.request.branch}
        write_bytes(run.folder / PATCH_FILE, state.patch)
        for path, patch in state.submodule_patches.items():
            write_bytes(run.folder / SUBMODULE_PATCHES / f"{path}.patch", patch)
        run.fingerprint = self._adjust(host) if self._adjust else host
        record = run.record
        record.lock_hashes = dict(host["lockfiles"])  # hashed once, by the collection
        info = state.info or {}
        record.git_sha = info.get("sha")
        record.dirty = info.get("dirty", False)
        record.git_error = info.get("error")
        record.source_left_out = state.left_out
