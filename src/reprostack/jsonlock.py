"""The committed JSON locks (``base-images.lock``, ``images.lock``): one way to read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reprostack.errors import ConfigError


def read_json_lock(
    path: Path, key: str, what: str, unreadable: str, missing: str
) -> dict[Any, Any]:
    """The ``key`` mapping of the JSON lock file at ``path`` ({} when the file does not exist).

    Raises ConfigError (exit 2) naming ``what`` the file should be: with the hint
    ``unreadable`` when it is not JSON, ``missing`` when it holds no such mapping.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{path}: not {what}: {exc}"], hint=unreadable) from exc
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise ConfigError([f"{path}: no '{key}' mapping"], hint=missing)
    return found
