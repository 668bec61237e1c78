"""``registry:``: where ``repro push`` stores images."""

from __future__ import annotations

import re

from reprostack.config.reader import Reader, Slot
from reprostack.redact import redact_url

# A registry host (a DNS name, IPv4 or [IPv6]) with an optional port and repository path.
REGISTRY_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


def read_registry(reader: Reader, slot: Slot) -> str | None:
    """``host[:port][/path]`` without a trailing slash; a scheme or credentials are refused."""
    value = reader.text(slot.data, slot.key, slot.section, None)
    if value is None:
        return None
    written = value.strip().rstrip("/")
    _, has_scheme, rest = written.partition("://")
    host_part = (rest if has_scheme else written).split("/", 1)[0]
    if "@" in host_part or redact_url(value) != value:
        # repro.yaml is copied into every run record and export.
        reader.problem(
            slot.path,
            "holds credentials; give only host[:port][/path] and log in with "
            "`docker login HOST` (docker's credential store keeps them, repro never sees "
            "them)",
        )
    elif has_scheme:
        reader.problem(
            slot.path,
            f"'{value}' has a scheme; give host[:port][/path] (e.g. '{rest}'): the engine "
            "chooses https, or http for registries it is told are insecure",
        )
    elif not REGISTRY_RE.match(written):
        reader.problem(
            slot.path,
            f"'{value}' is not a registry host[:port][/path] (e.g. "
            "'registry.example.com/team' or '127.0.0.1:5000'); paths are lowercase",
        )
    else:
        return written
    return None
