"""A host path bound into a container: ``SRC:/DST[:ro|rw]``, parsed where it enters.

Its own small module: the config and ``repro run -v`` read mounts on every run, and must not
pay for the engine port's types (a dozen dataclasses) to do it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reprostack.errors import UsageError

# ``SRC:/DST[:ro|rw]``, as ``docker run -v`` and repro.yaml's ``run.mounts`` write a mount.
MOUNT_RE = re.compile(r"^(?P<source>[^:]+):(?P<target>/[^:]*)(?::(?P<mode>ro|rw))?$")
MOUNT_FORM = "a mount SRC:/DST[:ro|rw] with an absolute target"


@dataclass(frozen=True)
class Mount:
    """A host path bound into a container."""

    source: str
    target: str
    read_only: bool = False

    @classmethod
    def parse(cls, text: str) -> Mount:
        """Read ``SRC:/DST[:ro|rw]`` (read-write unless ``:ro``); UsageError when malformed."""
        match = MOUNT_RE.match(text)
        if match is None:
            raise UsageError(
                f"{text!r} is not {MOUNT_FORM}", hint="e.g. -v /data/imagenet:/data:ro"
            )
        return cls(match["source"], match["target"], read_only=match["mode"] == "ro")

    @property
    def mode(self) -> Literal["ro", "rw"]:
        """Return docker's mode word for this mount."""
        return "ro" if self.read_only else "rw"
