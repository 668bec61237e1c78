"""Compare two runs' ``outputs/`` file by file (sha256)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reprostack.filehash import file_digest


def output_hashes(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``."""
    hashes: dict[str, str] = {}
    if not folder.is_dir():
        return hashes
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hashes[path.relative_to(folder).as_posix()] = file_digest(path)
    return hashes


@dataclass
class OutputComparison:
    """Which output files are identical, different, or only on one side."""

    identical: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    only_original: list[str] = field(default_factory=list)
    only_replay: list[str] = field(default_factory=list)
    # False when the original's outputs are not here (a run imported from an export made
    # without --outputs): nothing can be compared, and nothing is claimed.
    original_present: bool = True

    @property
    def matches(self) -> bool:
        """True when both runs wrote the same files with the same bytes."""
        if not self.original_present:
            return False
        return not (self.different or self.only_original or self.only_replay)


def compare_outputs(original: Path, replay: Path) -> OutputComparison:
    """Compare the files under two ``outputs/`` folders (the original's may be absent)."""
    if not original.is_dir():
        return OutputComparison(only_replay=sorted(output_hashes(replay)), original_present=False)
    a, b = output_hashes(original), output_hashes(replay)
    result = OutputComparison()
    for name in sorted(set(a) | set(b)):
        if name not in b:
            result.only_original.append(name)
        elif name not in a:
            result.only_replay.append(name)
        elif a[name] == b[name]:
            result.identical.append(name)
        else:
            result.different.append(name)
    return result


def render_comparison(result: OutputComparison) -> str:
    """One line per file: ``=`` identical, ``!`` different, ``-``/``+`` on one side only."""
    if not result.original_present:
        return (
            "outputs: not compared: the original run's outputs were not exported (make the "
            f"export with `repro export --outputs`); the replay wrote {len(result.only_replay)} "
            f"file{'' if len(result.only_replay) == 1 else 's'}"
        )
    lines = [f"  = {n}" for n in result.identical]
    lines += [f"  ! {n} (differs)" for n in result.different]
    lines += [f"  - {n} (only in the original)" for n in result.only_original]
    lines += [f"  + {n} (only in the replay)" for n in result.only_replay]
    total = sum(
        map(len, (result.identical, result.different, result.only_original, result.only_replay))
    )
    if result.matches:
        head = f"outputs: all {total} files byte-identical"
    else:
        head = f"outputs: {len(result.identical)} of {total} files identical"
    return "\n".join([head, *lines])
