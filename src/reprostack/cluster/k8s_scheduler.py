"""The scheduler port on Kubernetes: one ``batch/v1`` Job per run, through the API server.

Submission is :mod:`~reprostack.cluster.k8s_submit`, the end of a Job is read by
:mod:`~reprostack.cluster.k8s_status`. The pod's logs stay with the cluster (``kubectl
logs``): following a run waits for its Job to end.
"""

from __future__ import annotations

import time
from pathlib import Path

from reprostack.cluster.k8s_status import open_k8s, refresh_k8s
from reprostack.cluster.k8s_submit import K8sSubmission, submit_k8s
from reprostack.cluster.options import SubmitOptions
from reprostack.cluster.port import SchedulerKind, Submission, nothing_to_cancel
from reprostack.cluster.replay import replay_request
from reprostack.config import Config
from reprostack.record.request import RunRequest
from reprostack.record.run import DamagedRecord, RunRecord, read_record

POLL_S = 2.0


class K8sScheduler:
    """Kubernetes Jobs, with the kubeconfig kubectl would use."""

    def __init__(self, poll_s: float = POLL_S) -> None:
        self.poll_s = poll_s  # how often follow asks the API server

    @property
    def kind(self) -> SchedulerKind:
        return "k8s"

    def submit(self, config: Config, request: RunRequest, options: SubmitOptions) -> Submission:
        flags = options.k8s
        submitted = submit_k8s(
            config, request, namespace=flags.namespace, gpus=flags.gpus, dry_run=flags.dry_run
        )
        return _submission(submitted)

    def is_open(self, record: RunRecord) -> bool:
        return open_k8s(record)

    def refresh(self, folders: list[Path]) -> dict[Path, RunRecord]:
        return refresh_k8s(folders, strict=True)

    def cancel(self, folders: list[Path], *, whole_array: bool = False) -> list[Path]:
        # Deleting Jobs is not repro's yet: refused as before the port, naming the Job.
        if not folders:
            return []
        record = read_record(folders[0])
        scheduler = record.scheduler or {}
        raise nothing_to_cancel(
            record,
            hint=f"delete its Job: kubectl delete job/{scheduler.get('job_name')} "
            f"-n {scheduler.get('namespace')}",
        )

    def follow(self, folders: list[Path], *, logs: bool = True) -> list[RunRecord]:
        done: dict[Path, RunRecord] = {}
        while True:
            for folder in folders:
                if folder not in done:
                    record = _read(folder)
                    if record is not None and not open_k8s(record):
                        done[folder] = record
            if len(done) == len(folders):
                return [done[folder] for folder in folders]
            time.sleep(self.poll_s)
            refresh_k8s([folder for folder in folders if folder not in done])

    def resubmit(self, config: Config, folder: Path, original: RunRecord) -> Submission:
        request, image = replay_request(config, folder, original)
        scheduler = original.scheduler or {}
        gpus = scheduler.get("gpus")
        submitted = submit_k8s(
            config,
            request,
            namespace=str(scheduler.get("namespace") or "") or None,
            gpus=gpus if isinstance(gpus, int) else None,
            image=image,
        )
        return _submission(submitted)

    def summary(self, record: RunRecord) -> str:
        return f"run {record.id} {record.status} (exit {record.exit_code})" + (
            f": {record.error}" if record.error else ""
        )


def _read(folder: Path) -> RunRecord | None:
    try:
        return read_record(folder)
    except DamagedRecord:  # being replaced this instant
        return None


def _submission(submitted: K8sSubmission) -> Submission:
    """The Job's name and namespace in words; a dry run's manifest without a record."""
    record = submitted.record
    if record is None:
        return Submission([], [], "", "", manifest=submitted.manifest)
    scheduler = record.scheduler or {}
    name, namespace = scheduler.get("job_name"), scheduler.get("namespace")
    return Submission(
        records=[record],
        jobs=[str(name)],
        job=f"Kubernetes Job {name}",
        note=f"created Job {name} in namespace {namespace}; `kubectl logs -f job/{name}` "
        "follows it",
        manifest=submitted.manifest,
    )
