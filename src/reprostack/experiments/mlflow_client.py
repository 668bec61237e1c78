"""Log one repro run to an MLflow tracking server. The only module that imports mlflow.

Imported only after a run has ended (or by ``repro sync``): the client costs seconds to import.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from reprostack.record.run import FINGERPRINT_FILE, RUN_FILE, RunRecord
from reprostack.redact import REDACTED, is_secret, redact_argv

RUN_ID_TAG = "repro.run_id"
# Set last: a run holding it is complete. One without it was cut off mid-send and is replaced.
COMPLETE_TAG = "repro.synced"
ARTIFACTS = (RUN_FILE, FINGERPRINT_FILE, "source.patch")
STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
# MLflow's per-request limits (log_batch): 1000 metrics, 100 params, 1000 entities in all.
_METRIC_BATCH = 1000
_PARAM_BATCH = 100
_PARAM_VALUE_MAX = 6000
_TAG_VALUE_MAX = 8000
_KEY_MAX = 250
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")

T = TypeVar("T")


@dataclass
class Payload:
    """What goes to MLflow for one run, within MLflow's limits, and notes on what was changed."""

    tags: dict[str, str]
    params: list[Param]
    metrics: list[Metric]
    notes: list[str] = field(default_factory=list)
    # The MLflow run, once found or created: a failed attempt records it for the next one.
    run_id: str | None = None


def build_payload(
    record: RunRecord,
    raw: dict[str, Any],
    fingerprint: Mapping[str, Any],
    params: dict[str, Any],
    series: dict[str, list[tuple[int, float]]],
) -> Payload:
    """Tags, params and metrics as MLflow accepts them; pure, so the tests read it directly.

    Keys MLflow refuses (over 250 characters, odd characters, ``a/../b``) are renamed; param
    values over 6000 characters are cut; secret values (by name or shape) are withheld. Each
    change is a note, which the record keeps.
    """
    notes: list[str] = []
    tags = {
        _renamed(key, "tag", notes): value[:_TAG_VALUE_MAX]
        for key, value in tags_for(record, raw, fingerprint).items()
    }
    param_list: list[Param] = []
    for name, value in sorted(params.items()):
        key = _renamed(name, "param", notes)
        text = REDACTED if is_secret(name, value) else _param_value(value)
        if len(text) > _PARAM_VALUE_MAX:
            notes.append(f"param {_quoted(key)}: value cut to {_PARAM_VALUE_MAX} characters")
            text = text[: _PARAM_VALUE_MAX - 3] + "..."
        param_list.append(Param(key, text))
    ended = _millis(record.ended_at) or _millis(record.started_at) or 0
    metric_list: list[Metric] = []
    for name, points in sorted(series.items()):
        key = _renamed(name, "metric", notes)
        metric_list.extend(Metric(key, value, ended, step) for step, value in points)
    return Payload(tags, param_list, metric_list, notes)


def log_run(
    *,
    uri: str,
    experiment: str,
    folder: Path,
    record: RunRecord,
    payload: Payload,
    known_run_id: str | None = None,
) -> str:
    """Send ``payload`` to the MLflow run of ``record`` (found, or created once); return its id.

    Idempotent even when it fails: the run is looked up by its ``repro.run_id`` tag (or the id
    an earlier attempt recorded) and reused, never created twice; an attempt that fails marks
    it FAILED, and the next one completes it. Metric points already there are not doubled
    (MLflow keeps one of each key, step, time and value); params already there are not sent.
    """
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, experiment)
    run = _existing_run(client, experiment_id, record.id, known_run_id)
    if run is not None and run.data.tags.get(COMPLETE_TAG) == "true":
        payload.run_id = str(run.info.run_id)
        return payload.run_id
    started = _millis(record.started_at)
    ended = _millis(record.ended_at) or started
    if run is None:
        run = client.create_run(
            experiment_id, start_time=started, tags=payload.tags, run_name=record.id
        )
    run_id = payload.run_id = str(run.info.run_id)
    try:
        _send(client, run_id, run.data.params, folder, payload)
        client.set_tag(run_id, COMPLETE_TAG, "true")
        client.set_terminated(run_id, STATUSES.get(record.status, "FINISHED"), end_time=ended)
    except BaseException:
        # Never leave a run RUNNING: the next attempt finds this one and completes it.
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED", end_time=ended)
        raise
    return run_id


def _existing_run(
    client: MlflowClient, experiment_id: str, repro_id: str, known_run_id: str | None
) -> Any:
    """The MLflow run an earlier attempt made for ``repro_id`` (complete ones first), or None.

    Runs cut off by older versions (several for one id) are all found; the extra ones are
    deleted, so the tracker lists each repro run once.
    """
    found = list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{RUN_ID_TAG}` = '{repro_id}'",
            run_view_type=ViewType.ACTIVE_ONLY,
        )
    )
    if not found and known_run_id:
        with contextlib.suppress(MlflowException):
            run = client.get_run(known_run_id)
            if run.info.lifecycle_stage == "active" and run.info.experiment_id == experiment_id:
                found = [run]
    if not found:
        return None
    found.sort(
        key=lambda r: (r.data.tags.get(COMPLETE_TAG) != "true", r.info.run_id != known_run_id)
    )
    for extra in found[1:]:
        client.delete_run(extra.info.run_id)
    return found[0]


def _send(
    client: MlflowClient, run_id: str, logged: dict[str, str], folder: Path, payload: Payload
) -> None:
    tags = [RunTag(key, value) for key, value in payload.tags.items()]
    for tag_chunk in _chunks(tags, _PARAM_BATCH):
        client.log_batch(run_id, tags=tag_chunk)
    fresh = []
    for param in payload.params:
        if param.key not in logged:
            fresh.append(param)
        elif logged[param.key] != param.value:  # MLflow never changes a param once logged
            payload.notes.append(f"param {_quoted(param.key)}: MLflow keeps its earlier value")
    for param_chunk in _chunks(fresh, _PARAM_BATCH):
        client.log_batch(run_id, params=param_chunk)
    for chunk in _chunks(payload.metrics, _METRIC_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for name in ARTIFACTS:
        if (folder / name).is_file():
            client.log_artifact(run_id, str(folder / name))


def tags_for(
    record: RunRecord, raw: dict[str, Any], fingerprint: Mapping[str, Any]
) -> dict[str, str]:
    """The facts a tracker user filters by: run id, code, image, driver, CUDA, GPUs, data.

    ``raw`` is run.yaml as read (datasets, when the record names them, are tagged by digest).
    """
    tags: dict[str, str] = {
        RUN_ID_TAG: record.id,
        "repro.mode": record.mode,
        "repro.status": record.status,
        "repro.command": " ".join(redact_argv(record.argv))[:5000],
    }
    if record.exit_code is not None:
        tags["repro.exit_code"] = str(record.exit_code)
    if record.git_sha:
        tags["repro.git.sha"] = record.git_sha
        tags["mlflow.source.git.commit"] = record.git_sha  # MLflow's own UI shows this one
    tags["repro.git.dirty"] = str(record.dirty).lower()
    upstream = sorted({link["run"] for link in record.inputs_from})
    if upstream:
        tags["repro.inputs_from"] = ",".join(upstream)  # the runs whose outputs it read
    image = record.image
    for key in ("digest", "id", "tag"):
        value = image.get(key) if image is not None else None
        if value:
            tags[f"repro.image.{key}"] = str(value)
    nvidia = fingerprint.get("nvidia") or {}
    if nvidia.get("driver_version"):
        tags["repro.nvidia.driver"] = str(nvidia["driver_version"])
    gpus = [str(g.get("name")) for g in nvidia.get("gpus") or [] if isinstance(g, dict)]
    if gpus:
        tags["repro.gpus"] = ", ".join(gpus)
    cuda = fingerprint.get("cuda") or {}
    if cuda.get("runtime_version"):
        tags["repro.cuda.runtime"] = str(cuda["runtime_version"])
    tags.update(_data_tags(raw.get("data")))
    if record.replay_of:
        tags["repro.replay_of"] = record.replay_of
    return tags


def _data_tags(data: Any) -> dict[str, str]:
    """``repro.data.<name>: <digest>`` for each dataset a record names, whatever its shape."""
    entries: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        entries = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        entries = [(str(e.get("name", i)), e) for i, e in enumerate(data) if isinstance(e, dict)]
    tags = {}
    for name, entry in entries:
        digest = entry.get("digest") or entry.get("sha256") if isinstance(entry, dict) else entry
        if digest:
            tags[f"repro.data.{_key(name)}"] = str(digest)
    return tags


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created by someone else in between
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _key(name: str) -> str:
    """A key MLflow accepts: letters, digits, ``_-. /`` (anything else becomes ``_``), no empty,
    ``.`` or ``..`` path parts (``a/../b`` would name another key), at most 250 characters (a
    longer one keeps its start and gets a hash of the whole name, so two stay two)."""
    parts = [
        part for part in _BAD_KEY_CHARS.sub("_", name).split("/") if part not in ("", ".", "..")
    ]
    key = "/".join(parts) or "_"
    if len(key) > _KEY_MAX:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        key = f"{key[: _KEY_MAX - 13]}-{digest}"
    return key


def _renamed(name: str, kind: str, notes: list[str]) -> str:
    """``_key(name)``, with a note when MLflow could not take the name as it is."""
    key = _key(name)
    if key != name:
        notes.append(f"{kind} {_quoted(name)} sent as {_quoted(key)} (a name MLflow refuses)")
    return key


def _quoted(name: str, width: int = 60) -> str:
    """A name for a note: quoted, and shortened when long (a note must not be 300 characters)."""
    return repr(name if len(name) <= width else name[: width - 1] + "\u2026")


def _param_value(value: Any) -> str:
    """The text MLflow shows for a param (``null``, ``true``); cut by the caller, with a note."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _millis(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
