"""What differs between two fingerprints, grouped the way a researcher reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Groups in the order they are shown; each maps to fingerprint keys.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("git", ("git",)),
    ("packages", ("packages",)),
    ("python", ("python",)),
    ("locks", ("lockfiles",)),
    ("cuda", ("nvidia", "cuda")),
    ("container", ("container",)),
    ("os", ("os",)),
    ("hardware", ("hardware",)),
    ("env", ("env",)),
    ("data", ("data",)),
)


@dataclass
class FingerprintDiff:
    """Changes per group; ``packages`` is split into added, removed and changed."""

    changes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the two fingerprints agree on everything compared."""
        return not any(self.changes.values())


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; GPU lists are keyed by index."""
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        if not value:
            out[prefix] = []
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}[{index}]", out)
    else:
        out[prefix] = value


def _compare(a: Any, b: Any, prefix: str) -> list[str]:
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _flatten(a, prefix, flat_a)
    _flatten(b, prefix, flat_b)
    lines = []
    for key in sorted(set(flat_a) | set(flat_b)):
        old, new = flat_a.get(key, "(absent)"), flat_b.get(key, "(absent)")
        if old != new:
            lines.append(f"{key}: {_show(old)} -> {_show(new)}")
    return lines


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def _packages(a: dict[str, str], b: dict[str, str]) -> list[str]:
    lines = [f"+ {name}=={b[name]}" for name in sorted(set(b) - set(a))]
    lines += [f"- {name}=={a[name]}" for name in sorted(set(a) - set(b))]
    lines += [
        f"~ {name}: {a[name]} -> {b[name]}"
        for name in sorted(set(a) & set(b))
        if a[name] != b[name]
    ]
    return lines


def diff_fingerprints(
    a: Mapping[str, Any], b: Mapping[str, Any], ignore: tuple[str, ...] = ()
) -> FingerprintDiff:
    """Compare fingerprint ``a`` (older) with ``b``; ``ignore`` drops groups by name."""
    result = FingerprintDiff()
    for group, keys in GROUPS:
        if group in ignore:
            continue
        if group == "packages":
            lines = _packages(a.get("packages") or {}, b.get("packages") or {})
        elif group == "locks":
            # Keyed by path already (`lockfiles/prod.txt`): no group prefix in front of it.
            lines = _compare(a.get("lockfiles") or {}, b.get("lockfiles") or {}, "")
        else:
            lines = [line for key in keys for line in _compare(a.get(key), b.get(key), key)]
        if lines:
            result.changes[group] = lines
    return result


def render_diff(diff: FingerprintDiff) -> str:
    """Text for the terminal: a heading per group, one change per line."""
    if diff.empty:
        return "no differences"
    parts = []
    for group, lines in diff.changes.items():
        parts.append(f"{group}:")
        parts.extend(f"  {line}" for line in lines)
    return "\n".join(parts)


def diff_determinism(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    """What differs between two runs' ``determinism:`` blocks (run.yaml), one line each."""
    if a is None and b is None:
        return []
    if a is None or b is None:

        def state(block: Mapping[str, Any] | None) -> str:
            return "off" if block is None else f"on (seed {block.get('seed')})"

        return [f"determinism: {state(a)} -> {state(b)}"]
    keys = ("seed", "env", "applied", "not_applied")
    return _compare({k: a.get(k) for k in keys}, {k: b.get(k) for k in keys}, "determinism")


def diff_runs(
    a_fp: Mapping[str, Any],
    b_fp: Mapping[str, Any],
    a_determinism: Mapping[str, Any] | None,
    b_determinism: Mapping[str, Any] | None,
) -> FingerprintDiff:
    """``repro diff``: the fingerprints' differences, then the determinism controls'."""
    result = diff_fingerprints(a_fp, b_fp)
    lines = diff_determinism(a_determinism, b_determinism)
    if lines:
        result.changes["determinism"] = lines
    return result
