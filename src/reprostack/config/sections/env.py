"""``env:``: variables set in every run and baked into images."""

from __future__ import annotations

import re

from reprostack.config.reader import Reader, Slot, kind
from reprostack.redact import is_secret_name

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env(reader: Reader, slot: Slot) -> dict[str, str]:
    """``env:``: a mapping of NAME: value; numbers are written as text."""
    if slot.raw is None:
        return {}
    if not isinstance(slot.raw, dict):
        reader.problem(slot.path, f"expected a mapping of NAME: value, got {kind(slot.raw)}")
        return {}
    env: dict[str, str] = {}
    for key, value in slot.raw.items():
        name = str(key)
        path = (*slot.path, name)
        if not ENV_NAME_RE.match(name):
            reader.problem(path, "not a valid environment variable name")
        elif is_secret_name(name):
            reader.problem(
                path,
                "looks like a secret; env: is recorded in every run and "
                "baked into images. List it under run.pass_env instead",
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            reader.problem(path, f"expected a text value, got {kind(value)}; quote it")
            continue
        env[name] = str(value)
    return dict(sorted(env.items()))
