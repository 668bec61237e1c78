"""``tracking:``: the experiment trackers every finished run is sent to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reprostack.config.reader import FieldReader, Reader, Slot
from reprostack.redact import redact_url


@dataclass(frozen=True)
class MlflowConfig:
    """Where finished runs are logged: ``tracking.mlflow`` in repro.yaml."""

    uri: str
    experiment: str  # default: the project's name


@dataclass(frozen=True)
class TrackingConfig:
    """Experiment trackers that receive every finished run: ``tracking:`` in repro.yaml."""

    mlflow: MlflowConfig | None = None


def read_tracking(reader: Reader, slot: Slot) -> TrackingConfig:
    """``tracking:``; read at the top level, whose ``name`` is the default experiment."""
    tracking: TrackingConfig = reader.typed(slot)
    mlflow = tracking.mlflow
    if mlflow is not None and not mlflow.experiment:
        return TrackingConfig(MlflowConfig(mlflow.uri, slot.values["name"]))
    return tracking


def _mlflow(reader: Reader, slot: Slot) -> MlflowConfig | None:
    if slot.raw is None:
        return None
    values: dict[str, Any] = reader.fields(MlflowConfig, slot.raw, slot.path)
    if not values["uri"]:
        return None
    return MlflowConfig(uri=values["uri"], experiment=values["experiment"] or "")


def _uri(reader: Reader, slot: Slot) -> str | None:
    uri: str | None = reader.typed(slot)
    if not uri:
        reader.problem(slot.path, "missing; the tracking server, e.g. http://mlflow:5000")
    elif redact_url(uri) != uri:
        # repro.yaml is copied into every run record: credentials must not be in it.
        reader.problem(
            slot.path,
            "holds credentials; remove them and set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment",
        )
    return uri


CHECKS: dict[str, FieldReader] = {"mlflow": _mlflow}
MLFLOW_CHECKS: dict[str, FieldReader] = {"uri": _uri}
