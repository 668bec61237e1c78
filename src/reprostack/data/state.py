"""The data state a run recorded, in words: for `repro show`, and for the warning `repro run`
gives when a dataset did not match its manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprostack.config import LOCK_DIR


def data_state_lines(fingerprint: Mapping[str, Any]) -> list[str]:
    """One line per dataset of a run's fingerprint: files, bytes, digest, manifest match."""
    lines = []
    for name, facts in sorted((fingerprint.get("data") or {}).items()):
        if not isinstance(facts, Mapping):
            continue
        digest = facts.get("digest")
        lines.append(
            f"{name}: {facts.get('path')}, {facts.get('files')} files, {facts.get('bytes')} "
            f"bytes, digest {digest or 'not known'}; {_match(facts)}"
        )
    return lines


def differing_datasets(fingerprint: Mapping[str, Any]) -> list[str]:
    """Warnings for each dataset that did not match its manifest when the run started."""
    warnings = []
    for name, facts in sorted((fingerprint.get("data") or {}).items()):
        if isinstance(facts, Mapping) and facts.get("matches_manifest") is False:
            seen = _changed(facts.get("changed"))
            warnings.append(
                f"dataset {name} differs from its manifest ({LOCK_DIR}/data/{name}.json)"
                f"{f': {seen}' if seen else ''}; `repro data status {name}` lists the "
                f"changes, `repro data scan {name}` records the new state"
            )
    return warnings


def _match(facts: Mapping[str, Any]) -> str:
    match = facts.get("matches_manifest")
    if match is True:
        return "matches its manifest"
    if match is False:
        return "DIFFERS from its manifest"
    note = facts.get("note") or facts.get("problem")
    return f"not checked against a manifest{f' ({note})' if note else ''}"


def _changed(changed: Any) -> str:
    """``1 modified, 1 added (modified cat/2.bin, …)`` from the quick check's summary."""
    if not isinstance(changed, Mapping):
        return ""
    counts = [f"{changed.get(kind)} {kind}" for kind in ("modified", "added", "removed")
              if changed.get(kind)]  # fmt: skip
    first = [str(item) for item in changed.get("first") or []][:3]
    return ", ".join(counts) + (f" ({', '.join(first)})" if first else "")
