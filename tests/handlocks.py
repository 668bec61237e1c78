"""Hand-written test locks that describe the project's inputs as `repro lock` would record.

Fixture locks are written by hand (pinned wheels in a folder, no index), but a build refuses
a lock older than its inputs: :func:`restamp` gives each lock the header `repro lock` would
write for the inputs as they are now, keeping its body, so the fixture is a fresh lock.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reprostack.config import load_config
from reprostack.lock import header as lockheader
from reprostack.lock.base import LockRequest, Target
from reprostack.lock.detect import detect_tool
from reprostack.lock.project import _hash_inputs, _plan, lock_path


def restamp(root: Path) -> None:
    """Rewrite the headers of ``root``'s locks (prod first: dev's header hashes prod)."""
    config = load_config(root, required=True)
    tool = config.lock.tool or detect_tool(root, config.lock.inputs)
    target = Target(config.python, config.platform)
    for variant in ("prod", "dev"):
        path = lock_path(config, variant)
        if not path.is_file():
            continue
        plan = _plan(config, tool, variant)
        assert plan is not None, f"{variant}.txt exists but there are no {variant} inputs"
        request = LockRequest(root, variant, target, plan.inputs, plan.constraints, path)
        hashed, digest = _hash_inputs(plan, request, tool, target)
        text = path.read_text(encoding="utf-8")
        _, body = lockheader.split(text)
        old = lockheader.parse(text, str(path))
        new = dataclasses.replace(
            old, tool=f"{tool} (hand-written)", inputs=hashed, inputs_sha256=digest,
            body_sha256=lockheader.body_sha256(body),
        )  # fmt: skip
        path.write_text(lockheader.render(new, body), encoding="utf-8")
