"""``repro replay`` of a cluster run: the request that submits it again, as recorded.

Each scheduler resubmits the request to itself (:meth:`Scheduler.resubmit`).

An image run is resubmitted with the recorded image digest, or the recorded image archive
(its sha256 checked), since its code is inside the image.
A host-Python run (runtime ``none``, or a dev run that mounts the tree) runs the project's
working tree on the node, so it is resubmitted only when that tree is the recorded code
(same commit, same uncommitted changes); otherwise the replay refuses and says how to replay
it here, where the code is restored from the record.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from reprostack.cluster.image import split_ref
from reprostack.cluster.launch import PushedImage
from reprostack.config import Config
from reprostack.errors import CheckFailed
from reprostack.record.request import RunRequest
from reprostack.record.run import PATCH_FILE, RunRecord


def replay_request(
    config: Config, folder: Path, original: RunRecord
) -> tuple[RunRequest, PushedImage | None]:
    """The request that runs ``original`` again, and the recorded image it ran (None: the
    project's tree on the node, which must be the recorded code; CheckFailed otherwise)."""
    scheduler = original.scheduler or {}
    image = split_ref(str(scheduler.get("image") or ""))
    carried = image is not None or bool(scheduler.get("image_archive"))
    if not carried or original.mode != "prod":
        _require_recorded_code(config, folder, original)
    request = RunRequest.from_record(original, config.root)
    request.replay_of = original.id
    return request, image


def _require_recorded_code(config: Config, folder: Path, original: RunRecord) -> None:
    from reprostack.fingerprint.git import read_git

    state = read_git(config.root, exclude=(config.runs_dir,))
    sha = (state.info or {}).get("sha")
    recorded = (folder / PATCH_FILE).read_bytes() if (folder / PATCH_FILE).exists() else b""
    if sha == original.git_sha and _digest(state.patch) == _digest(recorded):
        return
    raise CheckFailed(
        f"run {original.id} ran the project's working tree on the node, and that tree is not "
        f"the recorded code now (commit {str(sha)[:8]} vs {str(original.git_sha)[:8]}, or "
        "other uncommitted changes); nothing was submitted",
        hint=f"replay it here with `repro replay {original.id} --{original.mode}` (the code "
        "is restored from the record), or check out the recorded code",
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
