"""``job.sbatch``: the batch script a Slurm run submits (a pure function of its inputs).

The script is readable on purpose (it is what was submitted, kept in the run folder) and
resubmittable by hand: ``sbatch runs/<id>/job.sbatch`` runs the recorded command again in
the same record. The command itself is not in it: the node reads it from ``run.yaml`` (or,
for the submission, from ``REPRO_ARGV`` in the job's environment, so that a secret argument
reaches the command without being written into any file).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

NODE_ENTRY = "reprostack.cluster.node"
SCRIPT_NAME = "job.sbatch"
JOB_LOG = "job.log"
# Slurm names an array task's output file by a pattern (%A_%a), and the pattern cannot name
# each task's own run folder. runs/.slurm-tasks/<first run>/<index> is a link to the task's
# folder, so `--output=.../<first run>/%a/slurm-%A_%a.out` lands in the task's own folder.
TASKS_DIR = ".slurm-tasks"


@dataclass(frozen=True)
class SlurmOptions:
    """What ``repro run --slurm`` asks of the scheduler (flags over ``cluster.slurm``)."""

    partition: str | None = None
    time: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    mem: str | None = None
    array: int | None = None  # N tasks, one run record each
    runtime: str = "none"
    extra: tuple[str, ...] = field(default_factory=tuple)
    # A docker archive on the shared filesystem run instead of a pushed image (absolute path),
    # and the sha256 it must have (a replay runs the archive its run recorded, no other).
    image_archive: str | None = None
    image_archive_sha256: str | None = None


def sbatch_lines(options: SlurmOptions, job_name: str, log: str) -> list[str]:
    """The ``#SBATCH`` options, in a fixed order; the extra lines from repro.yaml last."""
    lines = [f"--job-name={job_name}"]
    if options.partition:
        lines.append(f"--partition={options.partition}")
    if options.time:
        lines.append(f"--time={options.time}")
    if options.cpus:
        lines.append(f"--cpus-per-task={options.cpus}")
    if options.mem:
        lines.append(f"--mem={options.mem}")
    if options.gpus:
        lines.append(f"--gpus={options.gpus}")
    if options.array:
        lines.append(f"--array=0-{options.array - 1}")
    lines.append(f"--output={shlex.quote(log)}")  # sbatch reads #SBATCH lines shell-quoted
    # Slurm's default requeue would start the same record twice after a node failure.
    lines.append("--no-requeue")
    lines.extend(options.extra)
    return lines


def render_sbatch(
    *,
    project: str,
    run_ids: list[str],
    runs_dir: Path,
    workdir: Path,
    python: str,
    options: SlurmOptions,
    version: str,
) -> str:
    """The whole ``job.sbatch`` for ``run_ids`` (one, or one per array task)."""
    if options.array:
        log = tasks_folder(runs_dir, run_ids) / "%a" / "slurm-%A_%a.out"
    else:
        log = runs_dir / run_ids[0] / "slurm-%j.out"
    lines = [
        "#!/bin/bash",
        f"# Written by repro {version} for run {' '.join(run_ids)} (runtime: {options.runtime}).",
        "# It runs the command recorded in run.yaml; resubmit with `sbatch` to run it again.",
    ]
    lines += [f"#SBATCH {line}" for line in sbatch_lines(options, f"repro-{project}", str(log))]
    lines += [
        "set -eu",
        f"runs=({' '.join(shlex.quote(run_id) for run_id in run_ids)})",
        f"run_dir={shlex.quote(str(runs_dir))}/${{runs[${{SLURM_ARRAY_TASK_ID:-0}}]}}",
        f'exec >>"$run_dir/{JOB_LOG}" 2>&1',
        f"cd {shlex.quote(str(workdir))}",
        f'exec {shlex.quote(python)} -m {NODE_ENTRY} "$run_dir"',
        "",
    ]
    return "\n".join(lines)


def tasks_folder(runs_dir: Path, run_ids: list[str]) -> Path:
    """Where an array job's links to its tasks' run folders are (named by its first run)."""
    return runs_dir / TASKS_DIR / run_ids[0]


def link_tasks(runs_dir: Path, run_ids: list[str]) -> None:
    """Make ``<tasks folder>/<index>`` a link to each task's run folder (relative, so the
    links hold wherever the shared filesystem is mounted)."""
    folder = tasks_folder(runs_dir, run_ids)
    folder.mkdir(parents=True, exist_ok=True)
    for index, run_id in enumerate(run_ids):
        link = folder / str(index)
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", run_id), target_is_directory=True)
