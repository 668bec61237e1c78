"""Log one repro run to an MLflow tracking server. The only module that imports mlflow.

Imported only after a run has ended (or by ``repro sync``): the client costs seconds to import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from reprostack.record.run import FINGERPRINT_FILE, RUN_FILE, RunRecord

RUN_ID_TAG = "repro.run_id"
# Set last: a run holding it is complete. One without it was cut off mid-send and is replaced.
COMPLETE_TAG = "repro.synced"
ARTIFACTS = (RUN_FILE, FINGERPRINT_FILE, "source.patch")
STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
# MLflow's per-request limits (log_batch): 1000 metrics, 100 params, 1000 entities in all.
_METRIC_BATCH = 1000
_PARAM_BATCH = 100
_PARAM_VALUE_MAX = 6000
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")

T = TypeVar("T")


def log_run(
    *,
    uri: str,
    experiment: str,
    folder: Path,
    record: RunRecord,
    raw: dict[str, Any],
    fingerprint: Mapping[str, Any],
    params: dict[str, Any],
    series: dict[str, list[tuple[int, float]]],
) -> str:
    """Create (or find) the MLflow run of ``record``; return its MLflow run id."""
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, experiment)
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{RUN_ID_TAG}` = '{record.id}'",
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    for run in found:
        if run.data.tags.get(COMPLETE_TAG) == "true":
            return str(run.info.run_id)
    for run in found:  # cut off by a crash or a dead server: start over, never append twice
        client.delete_run(run.info.run_id)

    started = _millis(record.started_at)
    ended = _millis(record.ended_at) or started
    tags = tags_for(record, raw, fingerprint)
    run = client.create_run(experiment_id, start_time=started, tags=tags, run_name=record.id)
    run_id = str(run.info.run_id)
    param_list = [Param(_key(k), _param_value(v)) for k, v in sorted(params.items())]
    for param_chunk in _chunks(param_list, _PARAM_BATCH):
        client.log_batch(run_id, params=param_chunk)
    metric_list = [
        Metric(_key(name), value, ended or 0, step)
        for name, points in sorted(series.items())
        for step, value in points
    ]
    for chunk in _chunks(metric_list, _METRIC_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for name in ARTIFACTS:
        if (folder / name).is_file():
            client.log_artifact(run_id, str(folder / name))
    client.set_tag(run_id, COMPLETE_TAG, "true")
    client.set_terminated(run_id, STATUSES.get(record.status, "FINISHED"), end_time=ended)
    return run_id


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
        "repro.command": " ".join(record.argv)[:5000],
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
    """MLflow accepts letters, digits, ``_-. /`` in keys; anything else becomes ``_``."""
    return _BAD_KEY_CHARS.sub("_", name)


def _param_value(value: Any) -> str:
    if value is None:
        text = "null"
    else:
        text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= _PARAM_VALUE_MAX else text[: _PARAM_VALUE_MAX - 3] + "..."


def _millis(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
