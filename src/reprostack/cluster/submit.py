"""``repro run --slurm``: record the run(s) as queued, write ``job.sbatch``, submit it.

Nothing is fingerprinted here: the node records its own fingerprint when the job starts
(its driver, its GPUs, the image's packages, the code as the job found it), which is what the
run really had. Submission costs a record, a script and one ``sbatch``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from reprostack import __version__
from reprostack.cluster import slurm
from reprostack.cluster.image import pushed_image
from reprostack.cluster.launch import PushedImage
from reprostack.cluster.script import SCRIPT_NAME, SlurmOptions, link_tasks, render_sbatch
from reprostack.cluster.shared_fs import require_shared
from reprostack.config import Config
from reprostack.config.schema import SlurmRuntime
from reprostack.errors import ReproError, RunFailedToStart, UsageError
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, write_record
from reprostack.record.sections import ImageArchiveSection, SchedulerSection
from reprostack.redact import redact_text
from reprostack.runs.session import RunSession

ARGV_VARIABLE = "REPRO_ARGV"
CONTAINER_RUNTIMES: tuple[SlurmRuntime, ...] = ("docker", "podman", "apptainer", "pyxis")


def effective_options(config: Config, flags: SlurmOptions) -> SlurmOptions:
    """``cluster.slurm`` from repro.yaml with the command line's flags over it (the flags'
    ``runtime`` and ``extra`` are not flags: repro.yaml's are taken)."""
    defaults = config.cluster.slurm
    archive = flags.image_archive
    if archive is None and defaults.image_archive:
        archive = str((config.root / defaults.image_archive).resolve())
    return SlurmOptions(
        partition=flags.partition or defaults.partition,
        time=flags.time or defaults.time,
        gpus=flags.gpus,
        cpus=flags.cpus,
        mem=flags.mem,
        array=flags.array,
        runtime=defaults.runtime,
        extra=tuple(defaults.sbatch),
        image_archive=archive,
    )


def submit_slurm(
    config: Config,
    request: RunRequest,
    options: SlurmOptions,
    *,
    image: PushedImage | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[RunRecord]:
    """Submit ``request`` as one job (an array of ``options.array`` tasks); the queued records.

    Every failure before Slurm accepts the job closes all the records as failed with the
    cause and raises RunFailedToStart (exit 125). ``image`` replaces the current pushed image
    (a replay runs the recorded digest).
    """
    if options.array is not None and options.array < 1:
        raise UsageError(f"--array {options.array}: give the number of tasks, 1 or more")
    count = options.array or 1
    sessions = [
        RunSession(config, _task_request(request, options, index)) for index in range(count)
    ]
    try:
        job_id, image = _submit(config, request, options, image, sessions, environ)
    except ReproError as exc:
        for session in sessions:
            session.fail_before_start(exc.message)
        if isinstance(exc, RunFailedToStart):
            raise
        raise RunFailedToStart(exc.message, exc.hint) from exc
    except Exception as exc:  # the records must say why, whatever broke
        message = f"could not submit the job: {exc}"
        for session in sessions:
            session.fail_before_start(message)
        raise RunFailedToStart(message) from exc
    for index, session in enumerate(sessions):
        session.record.scheduler = {
            **(session.record.scheduler or {}),
            "job_id": job_id,
            "array_index": index if options.array else None,
        }
        write_record(session.folder, session.record)
    return [session.record for session in sessions]


def _task_request(request: RunRequest, options: SlurmOptions, index: int) -> RunRequest:
    """Task ``index``'s request: seeds 0..N-1 for an array unless a seed was given."""
    if options.array and request.seed is None:
        return dataclasses.replace(request, seed=index)
    return dataclasses.replace(request)


def runtime_for(mode: str, options: SlurmOptions) -> str:
    """The runtime a job uses: host Python for local runs, the configured one otherwise."""
    if mode == "local":
        return "none"
    if options.runtime not in CONTAINER_RUNTIMES:
        raise UsageError(
            f"--{mode} runs in the {mode} image, but cluster.slurm.runtime is "
            f"'{options.runtime}' (the host's Python)",
            hint="set cluster.slurm.runtime to docker, podman, apptainer or pyxis in repro.yaml, "
            "or submit with --local",
        )
    return options.runtime


def _submit(
    config: Config,
    request: RunRequest,
    options: SlurmOptions,
    image: PushedImage | None,
    sessions: list[RunSession],
    environ: Mapping[str, str] | None,
) -> tuple[str, PushedImage | None]:
    for session in sessions:
        session.record.status = "queued"
        session.record.pid = None  # the submitting process: nothing to watch
        session.record.scheduler = _scheduler_entry(request, options, None)
        write_record(session.folder, session.record)
    slurm.require("sbatch")
    runtime = runtime_for(request.mode, options)
    archive: ImageArchiveSection | None = None
    if runtime != "none" and image is None and options.image_archive:
        archive = archive_entry(config, request.mode, options)
    elif runtime != "none" and image is None:
        image = pushed_image(config, request.mode)
    if config.cluster.slurm.shared_check:
        from reprostack.cluster.shared_fs import filesystem_type, is_shared_type

        folder = sessions[0].folder
        if not is_shared_type(filesystem_type(folder)):
            require_shared(folder, options.partition, slurm.partition_nodes(options.partition))
    script = render_sbatch(
        project=config.name,
        run_ids=[session.run_id for session in sessions],
        runs_dir=config.runs_dir.resolve(),
        workdir=request.cwd.resolve(),
        python=sys.executable,
        options=dataclasses.replace(options, runtime=runtime),
        version=__version__,
    )
    if options.array:
        link_tasks(config.runs_dir.resolve(), [session.run_id for session in sessions])
    for session in sessions:
        (session.folder / SCRIPT_NAME).write_text(script, encoding="utf-8")
        session.record.scheduler = _scheduler_entry(request, options, image, runtime)
        if archive is not None:
            session.record.scheduler["image_archive"] = archive
        write_record(session.folder, session.record)
    env = dict(os.environ if environ is None else environ)
    # The command as typed (a secret argument included) reaches the node in the job's
    # environment, never in a file; the record keeps the redacted form.
    env[ARGV_VARIABLE] = json.dumps(request.argv)
    job_id = slurm.submit(sessions[0].folder / SCRIPT_NAME, request.cwd, env)
    return job_id, image


def _scheduler_entry(
    request: RunRequest,
    options: SlurmOptions,
    image: PushedImage | None,
    runtime: str | None = None,
) -> SchedulerSection:
    """``scheduler:`` in run.yaml: what the job is and what was asked of Slurm."""
    return {
        "kind": "slurm",
        "job_id": None,
        "array_index": None,
        "partition": options.partition,
        "runtime": runtime,
        "image": image.ref if image else None,
        "time": options.time,
        "gpus": options.gpus,
        "cpus": options.cpus,
        "mem": options.mem,
        "sbatch": [redact_text(line) for line in options.extra],
        "deterministic": request.deterministic,
        "state": None,
        "reason": None,
    }


def archive_entry(config: Config, mode: str, options: SlurmOptions) -> ImageArchiveSection:
    """The image archive a job runs: read (its sha256 taken) and checked before submitting.

    A replay's archive must be the recorded file (its sha256); a new run's must hold
    ``mode``'s image of the current code (its content hash), or the job would run old code.
    Raises RunFailedToStart saying how to write the right one.
    """
    from reprostack.registry.archive import read_archive

    assert options.image_archive is not None
    path = Path(options.image_archive)
    save = f"repro image save --{mode} -o {path}"
    if not path.is_file():
        raise RunFailedToStart(f"the image archive {path} does not exist",
                               hint=f"write it with `{save}`")  # fmt: skip
    facts = read_archive(path)
    if options.image_archive_sha256 is not None:
        if facts.sha256 != options.image_archive_sha256:
            raise RunFailedToStart(
                f"the image archive {path} is not the one the run recorded: its sha256 is "
                f"{facts.sha256}, the recorded one {options.image_archive_sha256}",
                hint="restore the recorded archive, or replay the run here with --" + mode,
            )
    else:
        current = _current_content_hash(config, mode)
        if facts.content_hash != current:
            raise RunFailedToStart(
                f"the image archive {path} holds another {mode} image than this code's "
                f"(content hash {str(facts.content_hash)[:19]}, this code's {current[:19]})",
                hint=f"write it again with `{save}`",
            )
    return {"path": str(path), "sha256": facts.sha256, "image_id": facts.image_id,
            "tag": facts.tag}  # fmt: skip


def _current_content_hash(config: Config, mode: str) -> str:
    """The content hash of ``mode``'s image for the code as it is now (no engine needed)."""
    from reprostack.bases.resolve import resolve_bases
    from reprostack.image.plan import plan_image

    return plan_image(config, mode, bases=resolve_bases(config)).content_hash


def options_of(scheduler: SchedulerSection) -> SlurmOptions:
    """The options a recorded Slurm run was submitted with (a replay asks for the same)."""
    archive = scheduler.get("image_archive")
    return SlurmOptions(
        partition=scheduler.get("partition"),
        time=scheduler.get("time"),
        gpus=scheduler.get("gpus"),
        cpus=scheduler.get("cpus"),
        mem=scheduler.get("mem"),
        runtime=scheduler.get("runtime") or "none",
        extra=tuple(scheduler.get("sbatch") or ()),
        image_archive=archive["path"] if archive else None,
        image_archive_sha256=archive["sha256"] if archive else None,
    )


def folders_of(config: Config, records: list[RunRecord]) -> list[Path]:
    """The run folders of ``records``."""
    return [config.runs_dir / record.id for record in records]
