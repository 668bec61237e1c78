"""``repro run``: run a script or command and record it in runs/<run-id>/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reprostack.cli.options import SEED
from reprostack.cli.output import info

if TYPE_CHECKING:
    from reprostack.config.schema import RunMode


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--local", "mode", flag_value="local", help="Run on the host's Python.")
@click.option("--dev", "mode", flag_value="dev", help="Run in the dev image (tree mounted).")
@click.option("--prod", "mode", flag_value="prod", help="Run in the prod image (code baked in).")
@click.option("--seed", type=SEED, default=None,
              help="Exported as REPRO_SEED and PYTHONHASHSEED (0 to 4294967295).")  # fmt: skip
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="Seed random/NumPy/torch at start-up and set the determinism switches "
    "(default: run.deterministic in repro.yaml).",
)
@click.option(
    "--hash-inputs",
    is_flag=True,
    help="Hash every file the command read, also those over run.inputs.hash_limit.",
)
@click.option("--gpus", default=None, help="auto, none, all, a count, or 'device=0,1'.")
@click.option(
    "-v",
    "--volume",
    "volumes",
    multiple=True,
    metavar="SRC:DST[:ro]",
    help="Mount a host path into the container (recorded in run.yaml).",
)
@click.option("--slurm", "scheduler", flag_value="slurm", help="Submit to Slurm (sbatch).")
@click.option("--k8s", "scheduler", flag_value="k8s", help="Create a Kubernetes Job.")
@click.option("--partition", default=None, help="Slurm partition (cluster.slurm.partition).")
@click.option("--time", "time_limit", default=None, help="Slurm time limit, e.g. 04:00:00.")
@click.option("--cpus", type=click.IntRange(min=1), default=None, help="CPUs per task.")
@click.option("--mem", default=None, help="Memory per node, e.g. 32G.")
@click.option("--array", type=click.IntRange(min=1), default=None,
              help="N tasks, one run each (seeds 0..N-1 unless --seed).")  # fmt: skip
@click.option("--wait", is_flag=True, help="Follow the cluster run's logs; exit with its code.")
@click.option(
    "--image-archive",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--slurm: run this `repro image save` archive (cluster.slurm.image_archive).",
)
@click.option("--namespace", default=None, help="Kubernetes namespace (cluster.k8s.namespace).")
@click.option("--dry-run", is_flag=True, help="--k8s: print the Job's YAML, create nothing.")
@click.option("--allow-stale", is_flag=True,
              help="--dev/--prod: use the image even when a lock is older than its inputs "
              "(exit 2 otherwise); recorded in the run's notes.")  # fmt: skip
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    mode: RunMode | None,
    seed: int | None,
    deterministic: bool | None,
    hash_inputs: bool,
    gpus: str | None,
    volumes: tuple[str, ...],
    scheduler: str | None,
    partition: str | None,
    time_limit: str | None,
    cpus: int | None,
    mem: str | None,
    array: int | None,
    wait: bool,
    image_archive: Path | None,
    namespace: str | None,
    dry_run: bool,
    allow_stale: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (a .py script runs with Python) and record the run.

    Without a mode flag, run.mode from repro.yaml is used (default: local; --k8s takes
    prod when that is local, as a Job runs an image). The exit code
    is the command's own; 125 when repro fails before the command starts. With --slurm or
    --k8s the run is submitted to the cluster: the run id and job are printed and repro
    returns (or follows the logs with --wait).
    """
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.errors import StaleLock
    from reprostack.mounts import Mount
    from reprostack.record.request import RunRequest
    from reprostack.runs.execute import Console, Placement, execute
    from reprostack.runs.local import PRESTART_EXIT, exit_status
    from reprostack.runs.session import RecordNotWritten

    for text in volumes:
        Mount.parse(text)  # a malformed -v is bad usage (exit 2), refused before any record
    with handle_errors(exit_code=PRESTART_EXIT, keep=(RecordNotWritten, StaleLock)):
        config = load_config()
        chosen = mode or config.run.mode
        if scheduler == "k8s" and mode is None and chosen == "local":
            # A Job runs an image, and prod is the one a cluster pulls by its pushed digest.
            chosen = "prod"
            info("repro: --k8s runs the prod image (run.mode is local, which a Job cannot run)")
        request = RunRequest(
            argv=list(command),
            mode=chosen,
            seed=seed,
            mounts=[*config.run.mounts, *volumes],
            cwd=Path.cwd(),
            deterministic=config.run.deterministic if deterministic is None else deterministic,
            allow_stale=allow_stale,
            hash_inputs=hash_inputs,
        )
        if scheduler is not None:
            from reprostack.cli.output import ClusterReport
            from reprostack.cluster.flow import submit_run
            from reprostack.cluster.options import K8sFlags, SubmitOptions, gpu_count
            from reprostack.cluster.script import SlurmOptions

            count = gpu_count(gpus)
            archive = str(image_archive.resolve()) if image_archive else None
            options = SubmitOptions(
                slurm=SlurmOptions(
                    partition, time_limit, count, cpus, mem, array, image_archive=archive
                ),
                k8s=K8sFlags(namespace, count, dry_run),
            )
            code = submit_run(
                config, request, scheduler, options, wait=wait, progress=ClusterReport()
            )
            if code is not None:
                sys.exit(code)
            return
        progress = None
        if chosen != "local":
            from reprostack.cli.progress import BuildProgress

            progress = BuildProgress()
        record = execute(config, request, Placement(gpus=gpus), Console(progress=progress))
    for note in record.notes:
        if note.startswith("image: "):  # pulled by lockfiles/images.lock, not built
            info(f"repro: {note}")
    run_dir = config.runs_dir / record.id
    _warn_about_the_run(run_dir)
    info(f"repro: run {record.id} {record.status} (exit {record.exit_code}); record in {run_dir}")
    mlflow = (record.tracking or {}).get("mlflow") or {}
    if mlflow and not mlflow.get("synced"):
        info(f"repro: not synced to MLflow: {mlflow.get('error')}; `repro sync` sends it later")
    if record.error:
        info(f"repro: {record.error}")
    sys.exit(exit_status(record))


def _warn_about_the_run(run_dir: Path) -> None:
    """Say when the host's driver does not fit the CUDA the run loaded (as replay does), and
    when a dataset the run read did not match its manifest (the record says so too)."""
    from reprostack.errors import CorruptRecord
    from reprostack.record.run import read_fingerprint

    try:
        fingerprint = read_fingerprint(run_dir)
    except CorruptRecord:  # no fingerprint (a run that never started): nothing to say
        return
    if (fingerprint.get("cuda") or {}).get("runtime_version"):
        from reprostack.doctor.checks import run_gpu_warnings

        for finding in run_gpu_warnings(dict(fingerprint)):
            info(f"repro: {finding.level}: {finding.message}")
            if finding.fix:
                info(f"  fix: {finding.fix}")
    if not fingerprint.get("data"):
        return  # no datasets: nothing more is imported
    from reprostack.data.state import differing_datasets

    for warning in differing_datasets(fingerprint):
        info(f"repro: warning: {warning}")
