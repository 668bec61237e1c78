"""On the node: ``python -m reprostack.cluster.node RUN_DIR`` runs a queued cluster record.

The job script execs this. It takes the record over (``node``, this host's process, status
``running``), then runs the command through the same code as ``repro run``: the host's Python
for runtime ``none``, the Docker SDK for ``docker``/``podman``, and the local runner with a
launcher in front (``apptainer exec``, ``srun --container-image``) for the others. A job that
runs an image archive checks the file's sha256 against the record first. Its exit
status is the command's, so Slurm's own view (COMPLETED/FAILED) agrees with the record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from reprostack.cluster.image import recorded_image, split_ref
from reprostack.cluster.launch import (
    PushedImage,
    apptainer_archive_prefix,
    apptainer_prefix,
    enroot_import_argv,
    pyxis_prefix,
)
from reprostack.cluster.submit import ARGV_VARIABLE
from reprostack.config import Config, load_config
from reprostack.engine import Engine
from reprostack.errors import EnvironmentMissing, ReproError, RunFailedToStart
from reprostack.record.fingerprint import Fingerprint
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, read_record, update_record, utc_now, write_record
from reprostack.record.sections import ImageArchiveSection
from reprostack.redact import redact_argv, redact_text
from reprostack.runs.execute import Placement, execute
from reprostack.runs.local import Launcher

PODMAN_SOCKETS = ("/run/podman/podman.sock",)


def request_for(record: RunRecord, root: Path, folder: Path) -> RunRequest:
    """The request a queued record stands for, in ``folder`` (its own run folder), with the
    command as typed when the submission passed it (the record's is redacted)."""
    request = RunRequest.from_record(record, root, run_dir=folder)
    # Taken out of the environment: the command and the fingerprint must not see it.
    typed = os.environ.pop(ARGV_VARIABLE, None)
    if typed:
        candidate = json.loads(typed)
        # Only the submission's own command: a job resubmitted by hand from a shell that
        # happens to hold the variable runs what its record says.
        if isinstance(candidate, list) and redact_argv([str(a) for a in candidate]) == request.argv:
            request.argv = [str(a) for a in candidate]
    return request


def node_gpus(allocated: str | None) -> str:
    """Docker's GPU request for a job: the devices Slurm gave it (SLURM_JOB_GPUS), or none."""
    ids = [part.strip() for part in (allocated or "").split(",") if part.strip().isdigit()]
    return f"device={','.join(ids)}" if ids else "none"


def job_image(record: RunRecord) -> PushedImage:
    """The pushed image the job was submitted with (by digest)."""
    scheduler = record.scheduler or {}
    image = split_ref(str(scheduler.get("image") or "")) or recorded_image(record.image)
    if image is None:
        raise RunFailedToStart(
            f"run {record.id} asks for a container runtime but names no pushed image",
            hint="submit it again with `repro run --slurm --prod` after `repro push --prod`",
        )
    return image


def run_on_node(folder: Path) -> RunRecord:
    """Run the queued record in ``folder`` here; the closed record."""
    record = read_record(folder)
    config = load_config(Path.cwd())
    request = request_for(record, config.root, folder)
    runtime = (record.scheduler or {}).get("runtime") or "none"
    allocated = os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS")
    return execute(config, request, placement_for(config, record, request, runtime, allocated))


def placement_for(
    config: Config, record: RunRecord, request: RunRequest, runtime: str, allocated: str | None
) -> Placement:
    """Where the job's command runs on this node, by the runtime it was submitted with."""
    if record.mode == "local" or runtime == "none":
        # "auto" leaves CUDA_VISIBLE_DEVICES as Slurm set it for the job's allocation.
        return Placement(gpus="auto", host=True)
    archive = (record.scheduler or {}).get("image_archive")
    if archive:
        return _archive_placement(config, request, checked_archive(archive), runtime, allocated)
    image = job_image(record)
    if runtime in ("docker", "podman"):
        # The engine sees every GPU of the node: hand the container only the job's own.
        return Placement(gpus=node_gpus(allocated), image_ref=_engine_image(image, runtime))
    return Placement(launcher=_launcher(config, request, image, runtime, bool(allocated)))


def checked_archive(archive: ImageArchiveSection) -> ImageArchiveSection:
    """The job's image archive, its sha256 checked against the record before anything runs."""
    from reprostack.registry.archive import file_sha256

    path = Path(archive["path"])
    if not path.is_file():
        raise RunFailedToStart(
            f"the image archive {path} is not on this node",
            hint="keep image archives on the filesystem the nodes share (the project's)",
        )
    found = file_sha256(path)
    if found != archive["sha256"]:
        raise RunFailedToStart(
            f"the image archive {path} changed since the job was submitted: its sha256 is "
            f"{found}, the recorded one {archive['sha256']}",
            hint="an archive a job will run must not be rewritten; save a new one under "
            "another name and submit again",
        )
    return archive


def _archive_placement(
    config: Config,
    request: RunRequest,
    archive: ImageArchiveSection,
    runtime: str,
    allocated: str | None,
) -> Placement:
    """Where a job runs an image archive: loaded into docker/podman and run by its id, or
    read by apptainer, or imported by enroot for pyxis (``launch`` has the lines)."""
    named = f"{archive['path']} (sha256 as recorded)"
    if runtime in ("docker", "podman"):
        engine = _node_engine(runtime)
        how = "found on this node's engine"
        if engine.image(archive["image_id"]) is None:
            from reprostack.registry.archive import load_archive

            load_archive(engine, Path(archive["path"]), archive["image_id"], "the job recorded")
            how = f"loaded from {named}"
        _note(request, f"image: {archive['image_id'][:19]} {how}, image id as recorded")
        return Placement(gpus=node_gpus(allocated), image_ref=archive["image_id"])
    source = archive["path"] if runtime == "apptainer" else enroot_squashfs(archive)
    _note(request, f"image: {archive['image_id'][:19]} run by {runtime} from {named}")
    return Placement(
        launcher=_launcher(config, request, source, runtime, bool(allocated), archive=archive)
    )


def _note(request: RunRequest, note: str) -> None:
    """Add ``note`` to the queued record the node is about to take over (it keeps its notes)."""
    assert request.run_dir is not None

    def add(data: dict[str, Any]) -> None:
        data["notes"] = [*(data.get("notes") or []), note]

    update_record(request.run_dir, add)


def enroot_squashfs(archive: ImageArchiveSection) -> str:
    """pyxis: the archive imported once by enroot into ``<archive>-<sha12>.sqsh`` beside it.

    Named by the archive's sha256, so a new archive never meets an old import; written to a
    temporary name and renamed, so array tasks starting together never read half a file.
    """
    path = Path(archive["path"])
    squashfs = path.with_name(f"{path.stem}-{archive['sha256'].removeprefix('sha256:')[:12]}.sqsh")
    if squashfs.is_file():
        return str(squashfs)
    partial = squashfs.with_name(f".{squashfs.name}.{os.getpid()}")
    done = subprocess.run(enroot_import_argv(str(path), str(partial)), capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise EnvironmentMissing(
            f"enroot could not import {path}: {done.stderr.strip() or done.returncode}",
            hint="check that enroot runs on this node (`enroot version`)",
        )
    os.replace(partial, squashfs)
    return str(squashfs)


def _node_engine(runtime: str) -> Engine:
    """This node's docker engine, or podman's Docker-compatible API for runtime podman."""
    if runtime == "podman" and "DOCKER_HOST" not in os.environ:
        # Podman's Docker-compatible API (`podman system service`) is what the SDK talks to.
        for socket in PODMAN_SOCKETS:
            if Path(socket).exists():
                os.environ["DOCKER_HOST"] = f"unix://{socket}"
    from reprostack.engine import connect

    return connect()


def _engine_image(image: PushedImage, runtime: str) -> str:
    """docker/podman: the job's image on this node's engine, pulled by digest when missing."""
    engine = _node_engine(runtime)
    if engine.image(image.ref) is None:
        # Not on this node yet: the one pull a cluster run makes, by digest (the engine port
        # maps a registry's refusal to a clear error).
        engine.pull(image.ref)
    return image.ref


def _launcher(
    config: Config,
    request: RunRequest,
    image: PushedImage | str,
    runtime: str,
    gpus: bool,
    *,
    archive: ImageArchiveSection | None = None,
) -> Launcher:
    """apptainer/pyxis: the launcher in front of the command, and the probe through it.

    ``image`` is a pushed image, or (with ``archive``) the path of the archive apptainer
    reads or the squashfs file enroot made of it."""
    from reprostack.image.fingerprint import PROBE_SCRIPT, merge, probe_mount
    from reprostack.record.fingerprint import ContainerSection
    from reprostack.runs.container import workdir_for

    binds = launch_binds(config, request)
    workdir = workdir_for(config, request)
    shown = image.ref if isinstance(image, PushedImage) else image

    def prefix(extra: list[tuple[str, str, str]]) -> list[str]:
        if runtime == "apptainer" and isinstance(image, PushedImage):
            return apptainer_prefix(image, binds + extra, workdir, gpus)
        if runtime == "apptainer":
            return apptainer_archive_prefix(str(image), binds + extra, workdir, gpus)
        return pyxis_prefix(image, binds + extra, workdir)

    def adjust(host: Fingerprint) -> Fingerprint:
        # The image's Python and packages come from inside it, as for a docker run.
        mount = probe_mount()
        probe = [*prefix([(mount.source, mount.target, mount.mode)]), "sh", "-c", PROBE_SCRIPT]
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EnvironmentMissing(
                f"could not fingerprint inside {shown} with {runtime}: "
                f"{done.stderr.strip() or done.returncode}",
                hint=f"check that {runtime} can start the image on this node",
            )
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        facts: ContainerSection = {
            "image_id": archive["image_id"] if archive else None,
            "image_digest": image.ref if isinstance(image, PushedImage) else None,
            "image_tag": archive["tag"] if archive else None,
            "base_image": None,
        }
        return merge(host, inside, facts)

    return Launcher(prefix=prefix([]), adjust=adjust)


def launch_binds(config: Config, request: RunRequest) -> list[tuple[str, str, str]]:
    """The run folder (at its own path, so REPRO_* point inside), the tree for dev, mounts."""
    from reprostack.runs.container import DEV_WORKDIR, with_data_mounts

    assert request.run_dir is not None
    binds = [(str(request.run_dir.resolve()), str(request.run_dir.resolve()), "rw")]
    if request.mode == "dev":
        binds.append((str(config.root.resolve()), DEV_WORKDIR, "rw"))
    for mount in with_data_mounts(config, list(request.mounts)):
        source, _, rest = mount.partition(":")
        target, _, mode = rest.partition(":")
        binds.append((str(Path(source).expanduser().resolve()), target, mode or "rw"))
    return binds


def _close_failed(folder: Path, message: str) -> None:
    """A failure before the run session existed: the record still says why."""
    try:
        record = read_record(folder)
    except ReproError:
        return
    if record.status in ("queued", "running"):
        record.status = "failed"
        record.error = redact_text(message)
        record.ended_at = utc_now()
        record.node = os.uname().nodename
        write_record(folder, record)


def main(argv: list[str] | None = None) -> int:
    """The job's entry point; the run's exit status."""
    from reprostack.runs.local import PRESTART_EXIT, exit_status
    from reprostack.runs.session import RecordNotWritten

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m reprostack.cluster.node RUN_DIR", file=sys.stderr)
        return 2
    folder = Path(args[0]).resolve()
    try:
        record = run_on_node(folder)
    except RecordNotWritten as exc:
        print(f"repro: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ReproError as exc:
        print(
            f"repro: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr
        )
        _close_failed(folder, exc.message)
        return PRESTART_EXIT
    print(
        f"repro: run {record.id} {record.status} (exit {record.exit_code}) on {record.node}",
        file=sys.stderr,
    )
    return exit_status(record)


if __name__ == "__main__":
    sys.exit(main())
