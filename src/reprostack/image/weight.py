"""Which locked packages are heavy: the rule that splits the dependency layers by weight.

A change to one small pin must not reinstall a multi-gigabyte CUDA/torch stack, so images
install the heavy packages in a layer of their own, before the rest. Which packages are heavy
is decided from the lock alone, by name: the known heavy families below plus the patterns of
``build.heavy`` in repro.yaml. Locks carry no file sizes, so no size enters the rule, and the
split of a lock is the same on every machine. The rendered Dockerfile states the rule
(:func:`rule_lines`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from reprostack.locktext import canonical, logical_lines

# Project families whose wheels weigh hundreds of megabytes to gigabytes (CUDA libraries,
# deep-learning frameworks and their compilers), as PEP 503 normalised fnmatch patterns.
HEAVY_FAMILIES: tuple[str, ...] = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "pytorch-triton*",
    "nvidia-*",
    "jax",
    "jaxlib",
    "jax-cuda*",
    "libtpu*",
    "tensorflow*",
    "tf-nightly*",
    "tensorrt*",
    "xformers",
    "flash-attn",
    "cupy-cuda*",
    "onnxruntime-gpu",
    "paddlepaddle*",
    "mxnet*",
)
# What every venv already holds: pinned by a lock, they go into the first part too, so that the
# rest never replaces a file of the first part's layer (the builder installs the rest into a
# prefix laid over the venv; replacing would leave two versions there).
VENV_OWN: tuple[str, ...] = ("pip", "setuptools", "wheel")
# One requirement of a lock: ``name[extras]==version`` (what follows is its hashes/markers).
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==|@)")


@dataclass(frozen=True)
class LockSplit:
    """A lock's heavy part as a requirements file, and the names that went into it."""

    heavy_text: str  # the lock's index options, then its heavy requirements as written
    heavy: tuple[str, ...]  # normalised names, sorted


def heavy_patterns(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Return the known heavy families followed by ``extra`` (``build.heavy``), normalised."""
    out = list(HEAVY_FAMILIES)
    for pattern in extra:
        normal = canonical(pattern)
        if normal not in out:
            out.append(normal)
    return tuple(out)


def is_heavy(name: str, patterns: Sequence[str]) -> bool:
    """Return whether the project ``name`` matches one of ``patterns`` (after normalising)."""
    normal = canonical(name)
    return any(fnmatch.fnmatchcase(normal, pattern) for pattern in patterns)


def split_lock(text: str, patterns: Sequence[str]) -> LockSplit:
    """Return the heavy part of the lock ``text``: its option lines, then every requirement
    whose name matches ``patterns``, each with its hashes, in the lock's order.

    The part is installed with ``--no-deps`` first; the whole lock is installed after it, so
    pip resolves the full set once, with the heavy pins already satisfied.
    """
    options: list[str] = []
    requirements: list[str] = []
    names: set[str] = set()
    for _, line in logical_lines(text):
        if line.startswith("-"):
            # Index options (and --only-binary...) apply to the part as to the whole; -r/-c
            # would pull the rest of the lock back in.
            if not line.startswith(("-r", "--requirement", "-c", "--constraint", "-e")):
                options.append(line)
            continue
        match = _REQUIREMENT.match(line)
        if match and is_heavy(match.group("name"), (*patterns, *VENV_OWN)):
            names.add(canonical(match.group("name")))
            requirements.append(_wrap(line))
    head = "# The heavy part of prod.txt (see the Dockerfile's deps stage); made by repro.\n"
    body = "".join(f"{option}\n" for option in options)
    if requirements:
        body += ("\n" if options else "") + "\n".join(requirements) + "\n"
    return LockSplit(heavy_text=head + body, heavy=tuple(sorted(names)))


def rule_lines(patterns: Sequence[str]) -> list[str]:
    """Return the heavy-name patterns as comment-ready lines of at most ~90 characters."""
    lines: list[str] = []
    current = ""
    for pattern in patterns:
        piece = pattern if not current else f"{current}, {pattern}"
        if len(piece) > 88 and current:
            lines.append(current + ",")
            current = pattern
        else:
            current = piece
    if current:
        lines.append(current)
    return lines


def _wrap(line: str) -> str:
    """Write a joined requirement line back with one ``--hash`` per physical line."""
    return re.sub(r"\s+--hash", " \\\n    --hash", line)
