"""The header at the top of every lock: what it was resolved for and from what.

A lock is ``# key: value`` comment lines, one blank line, then the body pip reads (option
lines, then ``name==version`` with ``--hash`` lines). ``body-sha256`` lets ``--check`` notice a
hand edit; ``inputs-sha256`` lets ``repro lock`` skip a resolution that would change nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reprostack.errors import CheckFailed, ConfigError, UsageError

if TYPE_CHECKING:
    from reprostack.config import Config

FORMAT_VERSION = "1"
_FIRST_LINE = "# Written by `repro lock`; do not edit by hand (`repro lock --check` notices)."


@dataclass(frozen=True)
class LockHeader:
    """The parsed header of a lock file."""

    variant: str
    tool: str  # "uv 0.13.9"
    python: str
    platform: str
    index_urls: tuple[str, ...]
    inputs: dict[str, str]  # label -> sha256 of its bytes
    inputs_sha256: str
    body_sha256: str
    format_version: str = FORMAT_VERSION
    # The date the lock was resolved as of (``repro lock --as-of``); None: no limit.
    exclude_newer: str | None = None
    # "all" when every pin has a wheel for the target (the image then needs no builder
    # stage), "missing: a, b" naming the pins without one, "" when it could not be told.
    wheels: str = ""
    # The base's glibc the lock was resolved for (uv's manylinux target); None: not recorded.
    glibc: str | None = None
    # Anything this version does not know, kept so a newer header still reads.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tool_name(self) -> str:
        """Return the tool without its version (``uv``, ``pip-tools``, ``poetry``)."""
        return self.tool.split(" ", 1)[0]


def body_sha256(body: str) -> str:
    """Return the sha256 of a lock body (everything after the header)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def render(header: LockHeader, body: str) -> str:
    """Return the whole lock text: header, blank line, body."""
    lines = [
        _FIRST_LINE,
        f"# repro-lock: {header.format_version}",
        f"# variant: {header.variant}",
        f"# tool: {header.tool}",
        f"# python: {header.python}",
        f"# platform: {header.platform}",
    ]
    if header.exclude_newer:
        lines.append(f"# exclude-newer: {header.exclude_newer}")
    if header.glibc:
        lines.append(f"# glibc: {header.glibc}")
    lines += [f"# index: {url}" for url in header.index_urls]
    lines += [f"# input: {label} sha256:{digest}" for label, digest in header.inputs.items()]
    if header.wheels:
        lines.append(f"# wheels: {header.wheels}")
    lines += [
        f"# inputs-sha256: {header.inputs_sha256}",
        f"# body-sha256: {header.body_sha256}",
    ]
    return "\n".join(lines) + "\n\n" + body


def split(text: str) -> tuple[list[str], str]:
    """Return (header lines, body) of a lock's text."""
    head, sep, body = text.partition("\n\n")
    if not sep:
        return [], text
    return head.splitlines(), body


def parse(text: str, where: str) -> LockHeader:
    """Parse a lock's text; raise ConfigError when it has no repro header."""
    lines, _ = split(text)
    values: dict[str, str] = {}
    urls: list[str] = []
    inputs: dict[str, str] = {}
    for line in lines:
        if not line.startswith("# ") or ": " not in line:
            continue
        key, _, value = line[2:].partition(": ")
        if key == "index":
            urls.append(value)
        elif key == "input":
            label, _, digest = value.rpartition(" sha256:")
            inputs[label] = digest
        else:
            values[key] = value
    required = ("repro-lock", "variant", "tool", "python", "platform", "inputs-sha256",
                "body-sha256")  # fmt: skip
    missing = [key for key in required if key not in values]
    if missing:
        raise ConfigError(
            [f"{where}: not written by `repro lock` (its header lacks {', '.join(missing)})"],
            hint="run `repro lock` to write it",
        )
    known = {*required, "exclude-newer", "wheels", "glibc"}
    return LockHeader(
        variant=values["variant"],
        tool=values["tool"],
        python=values["python"],
        platform=values["platform"],
        index_urls=tuple(urls),
        inputs=inputs,
        inputs_sha256=values["inputs-sha256"],
        body_sha256=values["body-sha256"],
        format_version=values["repro-lock"],
        exclude_newer=values.get("exclude-newer"),
        wheels=values.get("wheels", ""),
        glibc=values.get("glibc"),
        extra={k: v for k, v in values.items() if k not in known},
    )


def read_lock_header(path: Path) -> LockHeader:
    """Read the header of the lock at ``path``.

    Returns the LockHeader; raises UsageError when the file is missing and ConfigError when it
    was not written by ``repro lock``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such lock", hint="run `repro lock` to write it") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read it: {exc}"]) from exc
    return parse(text, str(path))


def ensure_lock_matches(config: Config, path: Path) -> LockHeader:
    """Refuse a lock resolved for another Python or platform than ``config`` asks for.

    Returns the header when the lock matches; raises CheckFailed naming both sides otherwise
    (and for a lock edited by hand, whose hashes no longer describe it).
    """
    header = read_lock_header(path)
    shown = _shown(config.root, path)
    problems = []
    if _minor(header.python) != _minor(config.python) or (
        header.python.count(".") == 2
        and config.python.count(".") == 2
        and header.python != config.python
    ):
        problems.append(
            f"{shown} was resolved for Python {header.python}, repro.yaml asks for {config.python}"
        )
    if header.platform != config.platform:
        problems.append(
            f"{shown} was resolved for {header.platform}, repro.yaml asks for {config.platform}"
        )
    _, body = split(path.read_text(encoding="utf-8"))
    if body_sha256(body) != header.body_sha256:
        problems.append(f"{shown} was edited by hand after `repro lock` wrote it")
    if problems:
        raise CheckFailed("\n".join(problems), hint="run `repro lock` to re-resolve it")
    return header


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _shown(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
