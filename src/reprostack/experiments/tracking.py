"""Send finished runs to the experiment tracker (MLflow), and remember in run.yaml that it has them.

A tracker that is down, refuses, or is not installed never fails a run: the record says
``synced: false`` with the reason, and ``repro sync`` sends it later. Sending twice creates
nothing: the tracker is searched for the run's ``repro.run_id`` tag first.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprostack.config.schema import MlflowConfig
from reprostack.errors import CorruptRecord, EnvironmentMissing
from reprostack.experiments.metrics import read_metrics
from reprostack.experiments.params import collect_params
from reprostack.record.run import (
    RUN_FILE,
    RunRecord,
    read_fingerprint,
    utc_now,
    write_record,
)
from reprostack.record.sections import MlflowState
from reprostack.redact import redact_url
from reprostack.yaml_limits import safe_load_limited

EXTRA_HINT = "pip install 'reprostack[mlflow]'"


class TrackerUnavailable(EnvironmentMissing):
    """The tracker cannot be reached, refused the run, or its client is not installed."""


@dataclass(frozen=True)
class SyncOutcome:
    """What happened to one run: ``synced``, ``already synced``, ``skipped`` or ``failed``."""

    run_id: str
    result: str
    tracker_run_id: str | None = None
    detail: str | None = None

    @property
    def failed(self) -> bool:
        """True when the tracker does not have the run after this attempt."""
        return self.result == "failed"


def tracking_state(record: RunRecord) -> MlflowState:
    """The ``tracking.mlflow`` entry of a record ({} when the run was never sent)."""
    state = record.tracking.get("mlflow") if record.tracking else None
    return MlflowState(**state) if isinstance(state, dict) else MlflowState()


def is_synced(record: RunRecord) -> bool:
    """Whether the tracker is recorded as having this run."""
    state = tracking_state(record)
    return bool(state.get("synced") and state.get("run_id"))


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast on a server that is down: MLflow's client would retry for minutes."""
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            if answer.status == 200:
                return
            problem = f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackerUnavailable(
        f"the MLflow server at {redact_url(uri)} does not answer ({problem})",
        hint="start it, or check tracking.mlflow.uri in repro.yaml; then run `repro sync`",
    )


def sync_run(mlflow: MlflowConfig, folder: Path, record: RunRecord) -> SyncOutcome:
    """Send one run to MLflow unless it is there already; record the outcome in run.yaml.

    Never raises for a tracker problem: the outcome (and the record) says what went wrong.
    A Ctrl-C while sending is written down as "not synced", then raised.
    """
    if is_synced(record):
        state = tracking_state(record)
        return SyncOutcome(record.id, "already synced", state["run_id"])
    if record.status == "running":
        return SyncOutcome(record.id, "skipped", detail="still running")
    base = MlflowState(uri=redact_url(mlflow.uri), experiment=mlflow.experiment)
    attempt = _Attempt(previous=tracking_state(record).get("run_id"))
    try:
        tracker_run_id = _log(mlflow, folder, record, attempt)
    except (Exception, KeyboardInterrupt) as exc:
        detail = exc.message if isinstance(exc, TrackerUnavailable) else _describe(exc)
        state = MlflowState(**base, run_id=attempt.run_id or attempt.previous, synced=False)
        state["error"] = detail
        record.tracking = {"mlflow": _with_notes(state, attempt)}
        write_record(folder, record)
        if isinstance(exc, KeyboardInterrupt):
            raise  # written down first; the caller decides whether Ctrl-C ends it all
        return SyncOutcome(record.id, "failed", detail=detail)
    state = MlflowState(**base, run_id=tracker_run_id, synced=True, synced_at=utc_now())
    record.tracking = {"mlflow": _with_notes(state, attempt)}
    write_record(folder, record)
    return SyncOutcome(record.id, "synced", tracker_run_id)


@dataclass
class _Attempt:
    """What one try learnt: the MLflow run it found or made, what it had to change."""

    previous: str | None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)


def _with_notes(state: MlflowState, attempt: _Attempt) -> MlflowState:
    """``state`` with ``notes`` when MLflow could not take everything as it was."""
    if attempt.notes:
        state["notes"] = attempt.notes
    return state


def _log(mlflow: MlflowConfig, folder: Path, record: RunRecord, attempt: _Attempt) -> str:
    check_reachable(mlflow.uri)
    # A refusing server (5xx) would otherwise be retried for minutes; the user's own
    # settings win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # repro prints its own line per run; the client's "View run at" would land in stdout.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if importlib.util.find_spec("mlflow") is None:
        raise TrackerUnavailable("the MLflow client is not installed", hint=EXTRA_HINT)
    from reprostack.experiments.mlflow_client import build_payload, log_run

    raw = safe_load_limited((folder / RUN_FILE).read_text(encoding="utf-8"), RUN_FILE)
    params = record.params or collect_params(folder, record.configs, record.argv).values
    series = read_metrics(folder / "outputs").series
    fingerprint: Mapping[str, Any]
    try:
        fingerprint = read_fingerprint(folder)
    except CorruptRecord:
        fingerprint = {}  # tags from it are left out; the record itself still goes
    payload = build_payload(
        record, raw if isinstance(raw, dict) else {}, fingerprint, params, series
    )
    attempt.notes = payload.notes
    try:
        return log_run(
            uri=mlflow.uri,
            experiment=mlflow.experiment,
            folder=folder,
            record=record,
            payload=payload,
            known_run_id=attempt.previous,
        )
    finally:
        attempt.run_id = payload.run_id


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted while sending"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def after_run(mlflow: MlflowConfig | None, folder: Path, record: RunRecord) -> None:
    """Log a run that just ended, when repro.yaml names a tracker. Never raises."""
    if mlflow is None:
        return
    if record.status == "interrupted":
        # Someone pressed Ctrl-C: leave now; `repro sync` sends it when they want.
        record.tracking = {
            "mlflow": {
                "uri": redact_url(mlflow.uri),
                "experiment": mlflow.experiment,
                "run_id": None,
                "synced": False,
                "error": "interrupted run: not sent",
            }
        }
        write_record(folder, record)
        return
    with contextlib.suppress(KeyboardInterrupt):  # the run is over and recorded
        sync_run(mlflow, folder, record)
