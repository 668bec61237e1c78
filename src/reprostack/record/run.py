"""``run.yaml``: the record of one run, written atomically at every change of status."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import yaml

from reprostack.atomic import write_text
from reprostack.errors import CorruptRecord
from reprostack.record.fingerprint import Fingerprint
from reprostack.record.sections import (
    ConfigCopy,
    DeterminismSection,
    ImageSection,
    InputFrom,
    InputsSection,
    LeftOutFile,
    MetricSummary,
    SchedulerSection,
    TrackingSection,
)
from reprostack.yaml_limits import YamlLimitExceeded, safe_load_limited

RUN_FILE = "run.yaml"
FINGERPRINT_FILE = "fingerprint.json"
# Uncommitted changes (untracked files too) on top of git.sha, and each changed submodule's
# own patch under submodules/<path from the repository top>.patch.
PATCH_FILE = "source.patch"
SUBMODULE_PATCHES = "submodules"
# "queued": submitted to a cluster scheduler, not started on a node yet.
STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")
# A record is a few KiB; anything far larger was not written by repro.
MAX_RECORD_BYTES = 4 * 1024 * 1024
# run.yaml's own version: a reader meeting a newer one keeps the keys it does not know.
RECORD_SCHEMA_VERSION = 2


class DamagedRecord(CorruptRecord):
    """A ``run.yaml`` that is empty, not YAML, or holds values of the wrong type.

    ``reason`` is the short why (``run.yaml is empty``) that ``repro runs`` shows.
    """

    def __init__(self, reason: str, path: Path | None = None) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(
            f"{where}damaged run record: {reason}",
            hint="the run folder was edited or cut short; its other files may still help",
        )
        self.reason = reason


def iso_utc(moment: datetime) -> str:
    """A UTC time as ISO 8601 with a ``Z``, to the microsecond."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z``, to the microsecond."""
    return iso_utc(datetime.now(timezone.utc))


@dataclass
class RunRecord:
    """Everything ``run.yaml`` holds (docs/reference/run-record.md).

    The session owns identity, process and status; every other group of fields has one
    owner, the recorder named beside it (``reprostack.runs.recorders``), and one type.
    """

    # The session: what was asked, by which process, and how it ended.
    id: str
    argv: list[str]
    mode: str
    status: str = "running"
    exit_code: int | None = None
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    replay_of: str | None = None
    command: list[str] = field(default_factory=list)
    cwd: str = "."
    seed: int | None = None
    host: str | None = None
    pid: int | None = None
    boot_id: str | None = None
    process_start: int | None = None  # the process's start time in clock ticks (pid reuse)
    signals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    config_sha256: str | None = None
    reprostack_version: str | None = None
    error: str | None = None
    # The container target: the image the command ran in.
    image: ImageSection | None = None
    # The code recorder (fingerprint.recorder): commit, uncommitted changes, left-out files,
    # and the lock files' hashes.
    lock_hashes: dict[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    dirty: bool | str = False  # "unknown" when git could not capture the code (git_error)
    git_error: str | None = None
    source_left_out: list[LeftOutFile] = field(default_factory=list)
    # The determinism recorder: what was set, what the start-up hook applied, what it could not.
    determinism: DeterminismSection | None = None
    # The experiment recorders: config copies, flat params, per-metric summaries (last, min,
    # max, steps) and what could not be read; the tracker's run id and whether it has the run.
    configs: list[ConfigCopy] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    params_skipped: list[str] = field(default_factory=list)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    metrics_problems: list[str] = field(default_factory=list)
    tracking: TrackingSection | None = None
    # The inputs recorder: what the command read (inputs.json holds every file), and the
    # runs whose outputs it read.
    inputs: InputsSection | None = None
    inputs_from: list[InputFrom] = field(default_factory=list)
    # Cluster runs: the scheduler's job, and the node the command ran on.
    scheduler: SchedulerSection | None = None
    node: str | None = None
    # The layout of this file: 1 before typed sections were introduced (same keys).
    schema_version: int = RECORD_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain data in a stable key order, ready for YAML."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Rebuild a record, ignoring keys a newer reprostack may have added.

        Raises DamagedRecord when ``id`` is missing or a known key has the wrong type.
        """
        if not isinstance(data.get("id"), str):
            raise DamagedRecord("no run id")
        for key, types in _TYPES.items():
            if key in data and not isinstance(data[key], types):
                raise DamagedRecord(f"{key} is {type(data[key]).__name__}, not {_names(types)}")
            if key in data and isinstance(data[key], bool) and bool not in types:
                raise DamagedRecord(f"{key} is a boolean")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("schema_version", 1)  # written before the field existed
        return cls(**values)


_NONE = type(None)
# The types a reader relies on; keys a newer reprostack adds are not checked.
_TYPES: dict[str, tuple[type, ...]] = {
    "argv": (list,),
    "mode": (str,),
    "status": (str,),
    "exit_code": (int, _NONE),
    "started_at": (str,),
    "ended_at": (str, _NONE),
    "image": (dict, _NONE),
    "lock_hashes": (dict,),
    "replay_of": (str, _NONE),
    "command": (list,),
    "cwd": (str,),
    "seed": (int, _NONE),
    "git_sha": (str, _NONE),
    "dirty": (bool, str),
    "git_error": (str, _NONE),
    "source_left_out": (list,),
    "host": (str, _NONE),
    "pid": (int, _NONE),
    "boot_id": (str, _NONE),
    "process_start": (int, _NONE),
    "signals": (list,),
    "notes": (list,),
    "mounts": (list,),
    "configs": (list,),
    "error": (str, _NONE),
    "scheduler": (dict, _NONE),
    "node": (str, _NONE),
    "determinism": (dict, _NONE),
    "tracking": (dict, _NONE),
    "inputs": (dict, _NONE),
    "inputs_from": (list,),
    "params": (dict,),
    "metrics": (dict,),
    "schema_version": (int,),
}


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is _NONE else t.__name__ for t in types)


# libyaml's emitter where present: a record is written four times on every run's path.
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def write_record(folder: Path, record: RunRecord, *, durable: bool = True) -> None:
    """Write ``run.yaml`` atomically: readers never see half a record.

    ``durable=False`` for a step that a durable write follows anyway (see atomic.write_bytes).
    """
    # allow_unicode=False: PyYAML writes NEL and line/paragraph separators raw and then reads
    # them back as line breaks; escaped, every string round-trips exactly.
    text = yaml.dump(
        record.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=100
    )
    try:
        write_text(folder / RUN_FILE, text, durable=durable)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not (folder / RUN_FILE).is_file():
            raise
        # A full disk has no room for a second copy, but the record's own blocks are reused
        # when it is rewritten in place: better than a record saying `running` forever.
        _rewrite_in_place(folder / RUN_FILE, text.encode("utf-8"))


def _rewrite_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())


def read_record(folder: Path) -> RunRecord:
    """Read ``run.yaml`` from a run folder; DamagedRecord says why one cannot be read."""
    path = folder / RUN_FILE
    try:
        text = path.read_text(encoding="utf-8")
        data = safe_load_limited(text, str(path), MAX_RECORD_BYTES)
    except FileNotFoundError as exc:
        raise DamagedRecord("no run.yaml", path) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError, YamlLimitExceeded) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DamagedRecord(f"unreadable: {first}", path) from exc
    if data is None:
        raise DamagedRecord("run.yaml is empty", path)
    if not isinstance(data, dict):
        raise DamagedRecord("run.yaml is not a mapping", path)
    try:
        return RunRecord.from_dict(data)
    except DamagedRecord as exc:
        raise DamagedRecord(exc.reason, path) from None


def write_fingerprint(folder: Path, fingerprint: Fingerprint) -> None:
    """Write ``fingerprint.json`` atomically, keys sorted so two records diff cleanly."""
    write_text(folder / FINGERPRINT_FILE, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")


def read_fingerprint(folder: Path) -> Fingerprint:
    """Read a run's ``fingerprint.json``; CorruptRecord when it is missing or not a JSON object."""
    path = folder / FINGERPRINT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorruptRecord(
            f"{path}: cannot be read: {first}",
            hint="the run folder was changed after the run; restore it from a copy or an export",
        ) from exc
    if not isinstance(data, dict):
        raise CorruptRecord(f"{path}: not a JSON object")
    # Read as written: a section a reader needs and cannot find is absent, not invented.
    return cast(Fingerprint, data)


def update_record(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to a run's ``run.yaml`` as written, keeping every other key as it is.

    The raw mapping is edited (not a RunRecord), so keys this version does not know survive;
    the file is rewritten atomically in the same form ``write_record`` uses.
    """
    path = folder / RUN_FILE
    data = safe_load_limited(path.read_text(encoding="utf-8"), str(path), MAX_RECORD_BYTES)
    if not isinstance(data, dict):
        raise DamagedRecord("run.yaml is not a mapping", path)
    change(data)
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=100)
    write_text(path, text)
