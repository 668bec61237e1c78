"""``repro run --slurm/--k8s`` (called from ``repro run``) and ``repro cancel RUN``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from reprostack.cli.output import info

if TYPE_CHECKING:
    from reprostack.config import Config
    from reprostack.record.request import RunRequest
    from reprostack.record.run import RunRecord


def gpu_count(gpus: str | None) -> int | None:
    """``--gpus`` for a scheduler: a count (``none``/``0`` ask for none)."""
    from reprostack.errors import UsageError

    if gpus is None or gpus in ("none", "0", "auto"):
        return None
    if gpus.isdigit():
        return int(gpus)
    raise UsageError(
        f"--gpus {gpus}: a cluster job asks for a number of GPUs",
        hint="give a count, such as --gpus 2",
    )


def submit_run(
    config: Config,
    request: RunRequest,
    scheduler: str,
    *,
    wait: bool,
    dry_run: bool,
    gpus: str | None,
    namespace: str | None,
    **flags: Any,
) -> None:
    """Submit ``request`` to ``scheduler``, print the run and job; follow it with ``wait``."""
    if scheduler == "k8s":
        submit_k8s_run(
            config, request, wait=wait, dry_run=dry_run, gpus=gpu_count(gpus), namespace=namespace
        )
        return
    from reprostack.cluster.submit import effective_options, submit_slurm

    options = effective_options(config, gpus=gpu_count(gpus), **flags)
    records = submit_slurm(config, request, options)
    report_submitted(config, records, wait=wait)


def report_submitted(config: Config, records: list[RunRecord], *, wait: bool) -> None:
    """Print each run id and its job (stdout: ``RUN_ID JOB``); follow them with ``wait``."""
    from reprostack.cluster.slurm import job_ref

    for record in records:
        scheduler = record.scheduler or {}
        ref = job_ref(str(scheduler.get("job_id")), scheduler.get("array_index"))
        click.echo(f"{record.id} {ref}")
    first = records[0].scheduler or {}
    info(
        f"repro: submitted {len(records)} run(s) as Slurm job {first.get('job_id')}; "
        "`repro runs` shows their state, `repro cancel RUN` stops one"
    )
    if wait:
        sys.exit(wait_for(config, records))


def wait_for(config: Config, records: list[RunRecord]) -> int:
    """Follow the runs until they end; the exit status (the first failing run's)."""
    from reprostack.cluster.follow import follow
    from reprostack.runs.local import exit_status

    folders = [config.runs_dir / record.id for record in records]
    ended = follow(folders, logs=len(records) == 1)
    code = 0
    for record in ended:
        info(
            f"repro: run {record.id} {record.status} (exit {record.exit_code}) on "
            f"{record.node or '?'}" + (f": {record.error}" if record.error else "")
        )
        code = code or exit_status(record)
    return code


@click.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--array", "whole_array", is_flag=True, help="Cancel every task of RUN's array.")
def cancel(run_refs: tuple[str, ...], whole_array: bool) -> None:
    """Cancel cluster runs (RUN: id, prefix or 'last'); their records say `interrupted`."""
    from reprostack.cli.output import handle_errors
    from reprostack.cluster import slurm
    from reprostack.cluster.status import wait_until_settled
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.record.run import read_record
    from reprostack.record.store import resolve_run

    with handle_errors():
        config = load_config()
        folders, refs = [], []
        for ref in run_refs:
            folder = resolve_run(config.runs_dir, ref)
            record = read_record(folder)
            scheduler = record.scheduler or {}
            if scheduler.get("kind") != "slurm" or not scheduler.get("job_id"):
                raise UsageError(
                    f"run {record.id} was not submitted to Slurm; nothing to cancel",
                    hint="stop a local run with Ctrl-C or by signalling its process",
                )
            index = None if whole_array else scheduler.get("array_index")
            refs.append(slurm.job_ref(str(scheduler["job_id"]), index))
            folders.append(folder)
        slurm.cancel(sorted(set(refs)))
        if whole_array:
            folders = _array_folders(config.runs_dir, refs)
        wait_until_settled(folders)
    for folder in folders:
        record = read_record(folder)
        info(
            f"repro: run {record.id} {record.status}"
            + (f": {record.error}" if record.error else "")
        )


def _array_folders(runs_dir: Any, job_ids: list[str]) -> list[Any]:
    """Every run folder whose job is one of ``job_ids``."""
    from reprostack.record.store import list_runs

    return [
        entry.folder
        for entry in list_runs(runs_dir)
        if entry.record and str((entry.record.scheduler or {}).get("job_id")) in job_ids
    ]


def submit_k8s_run(
    config: Config,
    request: RunRequest,
    *,
    wait: bool,
    dry_run: bool,
    gpus: int | None,
    namespace: str | None,
) -> None:
    """``repro run --k8s``: print the Job (dry run) or the run id and Job name; ``wait``
    polls the API server until the Job ends and exits with the pod's code."""
    from reprostack.cluster.k8s_submit import submit_k8s

    submitted = submit_k8s(config, request, namespace=namespace, gpus=gpus, dry_run=dry_run)
    if submitted.record is None:
        click.echo(submitted.manifest, nl=False)
        return
    record = submitted.record
    scheduler = record.scheduler or {}
    click.echo(f"{record.id} {scheduler.get('job_name')}")
    info(
        f"repro: created Job {scheduler.get('job_name')} in namespace "
        f"{scheduler.get('namespace')}; `kubectl logs -f job/{scheduler.get('job_name')}` "
        "follows it"
    )
    if wait:
        sys.exit(wait_for_k8s(config, record))


def wait_for_k8s(config: Config, record: RunRecord, poll_s: float = 2.0) -> int:
    """Poll the API server until the Job's record is closed; the run's exit status."""
    import time

    from reprostack.cluster.status import open_k8s, refresh_k8s
    from reprostack.record.run import read_record
    from reprostack.runs.local import exit_status

    folder = config.runs_dir / record.id
    while open_k8s(record):
        time.sleep(poll_s)
        refresh_k8s([folder])
        record = read_record(folder)
    info(
        f"repro: run {record.id} {record.status} (exit {record.exit_code})"
        + (f": {record.error}" if record.error else "")
    )
    return exit_status(record)
