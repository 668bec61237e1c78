"""``run.yaml``: the record of one run, written atomically at every change of status."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from reprostack.atomic import write_text

RUN_FILE = "run.yaml"
FINGERPRINT_FILE = "fingerprint.json"
STATUSES = ("running", "succeeded", "failed", "interrupted")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z``, to the microsecond."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class RunRecord:
    """Everything ``run.yaml`` holds (DESIGN.md's keys first)."""

    id: str
    argv: list[str]
    mode: str
    status: str = "running"
    exit_code: int | None = None
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    image: dict[str, Any] | None = None
    lock_hashes: dict[str, str] = field(default_factory=dict)
    replay_of: str | None = None
    command: list[str] = field(default_factory=list)
    cwd: str = "."
    seed: int | None = None
    # `--deterministic`: what was set, what the startup hook applied, what it could not.
    determinism: dict[str, Any] | None = None
    git_sha: str | None = None
    dirty: bool = False
    host: str | None = None
    mounts: list[str] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)
    config_sha256: str | None = None
    reprostack_version: str | None = None
    error: str | None = None
    # Experiments: flat params, per-metric summaries (last, min, max, steps) and what could not
    # be read; the tracker's run id and whether it has the run (reprostack.experiments).
    params: dict[str, Any] = field(default_factory=dict)
    params_skipped: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics_problems: list[str] = field(default_factory=list)
    tracking: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data in a stable key order, ready for YAML."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Rebuild a record, ignoring keys a newer reprostack may have added."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def write_record(folder: Path, record: RunRecord) -> None:
    """Write ``run.yaml`` atomically: readers never see half a record."""
    # allow_unicode=False: PyYAML writes NEL and line/paragraph separators raw and then reads
    # them back as line breaks; escaped, every string round-trips exactly.
    text = yaml.safe_dump(record.to_dict(), sort_keys=False, allow_unicode=False, width=100)
    write_text(folder / RUN_FILE, text)


def read_record(folder: Path) -> RunRecord:
    """Read ``run.yaml`` from a run folder."""
    # libyaml's loader when PyYAML has it: ~10x faster, and `repro runs` reads many records.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((folder / RUN_FILE).read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict):
        raise ValueError(f"{folder / RUN_FILE} is not a run record")
    return RunRecord.from_dict(data)


def write_fingerprint(folder: Path, fingerprint: dict[str, Any]) -> None:
    """Write ``fingerprint.json`` atomically, keys sorted so two records diff cleanly."""
    write_text(folder / FINGERPRINT_FILE, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")


def read_fingerprint(folder: Path) -> dict[str, Any]:
    """Read a run's ``fingerprint.json``."""
    data: dict[str, Any] = json.loads((folder / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    return data
