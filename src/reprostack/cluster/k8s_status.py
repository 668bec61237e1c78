"""Kubernetes truth: bring a Job's record up to date with what the API server says of it.

The pod runs the image alone (no repro on the node closes the record), so the end of a
Kubernetes run is always learnt here: the Job's conditions and its pod's exit code.
"""

from __future__ import annotations

from pathlib import Path

from reprostack.cluster.port import SchedulerUnreachable
from reprostack.record.run import DamagedRecord, RunRecord, read_record, utc_now, write_record


def open_k8s(record: RunRecord | None) -> bool:
    """A Kubernetes record whose Job's end the record has not heard yet."""
    return bool(
        record and record.status in ("queued", "running") and (record.scheduler or {}).get("uid")
    )


def refresh_k8s(folders: list[Path], *, strict: bool = False) -> dict[Path, RunRecord]:
    """Ask the API server about open Kubernetes records; the records it settled.

    Without the client or a reachable API server the records stay as they are; with
    ``strict`` that is said (SchedulerUnreachable, holding what was settled before) and the
    other records are not asked about (each would wait as long).
    """
    from reprostack.cluster.k8s import read_outcome

    settled: dict[Path, RunRecord] = {}
    for folder in folders:
        try:
            record = read_record(folder)
        except DamagedRecord:
            continue
        if not open_k8s(record):
            continue
        scheduler = record.scheduler or {}
        try:
            outcome = read_outcome(str(scheduler["namespace"]), str(scheduler["job_name"]))
        except Exception as exc:  # no client, no kubeconfig, server down: nothing new to say
            if strict and not _answered(exc):
                raise SchedulerUnreachable(
                    f"the Kubernetes API server was not reached ({exc})", settled
                ) from exc
            continue
        if not outcome.final:
            continue
        record.exit_code = outcome.exit_code
        record.status = "succeeded" if outcome.succeeded else "failed"
        if not outcome.succeeded:
            record.error = f"the Job failed ({outcome.reason or 'no reason given'})"
        record.ended_at = record.ended_at or utc_now()
        write_record(folder, record)
        settled[folder] = record
    return settled


def _answered(error: Exception) -> bool:
    """Whether the API server answered (a refusal, a Job it no longer has)."""
    return type(error).__name__ == "ApiException" and getattr(error, "status", 0) != 0
