"""Run a command in the dev or prod image, recording it exactly as a local run.

The run folder is mounted at ``/repro/run`` so logs and outputs land on the host; the process
runs as the caller's uid:gid so the files belong to them; the container is always removed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from reprostack.config import Config
from reprostack.determinism import HOOK_DIR, HOOK_MOUNT
from reprostack.engine import Container, ContainerSpec, Engine, ImageInfo, Mount
from reprostack.engine.errors import EngineUnavailable, engine_address
from reprostack.errors import EnvironmentMissing, ReproError
from reprostack.experiments.shim import shim_mounts, with_shim_path
from reprostack.image.fingerprint import container_facts, merge, probe_image
from reprostack.inputs import capture_on
from reprostack.record.fingerprint import ContainerSection, Fingerprint
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord
from reprostack.record.sections import ImageSection
from reprostack.runs.gpus import device_requests
from reprostack.runs.recorders import run_recorders
from reprostack.runs.session import RunInterrupted, RunSession
from reprostack.runs.signals import SignalForwarder, interrupted
from reprostack.runs.stream import Stream, open_log
from reprostack.runs.watchdog import Watchdog
from reprostack.sbom.recorder import SbomRecorder

if TYPE_CHECKING:
    from reprostack.image.progress import ProgressCallback

RUN_MOUNT = "/repro/run"
# How long a run whose engine connection broke waits for an engine to stop its container.
RECONNECT_S = 10.0
DEV_WORKDIR = "/workspace"
PROD_WORKDIR = "/app"


def container_command(argv: list[str]) -> list[str]:
    """``train.py ARGS`` runs with the image's python3 (a repro image's venv is first on PATH)."""
    if argv and argv[0].endswith(".py"):
        return ["python3", *argv]
    return list(argv)


def volumes_for(config: Config, request: RunRequest, folder: Path) -> tuple[Mount, ...]:
    """The run folder, the working tree (dev), user mounts, and absolute path arguments."""
    run_dir = str(folder.resolve())
    volumes = {run_dir: Mount(run_dir, RUN_MOUNT)}
    if request.deterministic:
        volumes[str(HOOK_DIR)] = Mount(str(HOOK_DIR), HOOK_MOUNT, read_only=True)
    if request.mode == "dev":
        root = str(config.root.resolve())
        volumes[root] = Mount(root, DEV_WORKDIR)
    for text in request.mounts:
        mount = Mount.parse(text)
        path = str(Path(mount.source).expanduser().resolve())
        volumes[path] = Mount(path, mount.target, mount.read_only)
    for arg in request.argv[1:]:
        # An absolute path argument (a dataset, a config outside the repo) is reachable at
        # the same path, read-only; data reaches containers only through mounts
        # (run.mounts in docs/reference/repro-yaml.md).
        candidate = arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg
        if candidate.startswith("/") and Path(candidate).exists():
            path = str(Path(candidate).resolve())
            if not any(path == src or path.startswith(src + "/") for src in volumes):
                volumes[path] = Mount(path, path, read_only=True)
    return tuple(volumes.values())


def with_data_mounts(config: Config, mounts: list[str]) -> list[str]:
    """``mounts`` plus each dataset of repro.yaml, read-only at the same path (recorded in
    run.yaml, so a script's paths mean the same inside and out)."""
    targets = {Mount.parse(text).target for text in mounts}
    added = [
        f"{dataset.path}:{dataset.path}:ro"
        for dataset in config.data.values()
        if str(dataset.path) not in targets
    ]
    return [*mounts, *added]


def workdir_for(config: Config, request: RunRequest) -> str:
    """Where the command starts: the same folder of the project as on the host."""
    base = DEV_WORKDIR if request.mode == "dev" else PROD_WORKDIR
    try:
        relative = request.cwd.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        relative = "."
    return base if relative in ("", ".") else f"{base}/{relative}"


def container_env(
    session: RunSession,
    image: ContainerSection,
    caller: dict[str, str],
    image_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The command's environment: repro.yaml env, REPRO_*, pass_env from the caller, image ids.

    ``image_env`` is the image's own ENV: a PYTHONPATH set there is kept behind the hook's.
    """
    base = {"HOME": "/tmp"}
    pythonpath = (image_env or {}).get("PYTHONPATH")
    if (session.request.deterministic or capture_on(session.config)) and pythonpath:
        base["PYTHONPATH"] = pythonpath
    env = session.run_env(base, hook_dir=HOOK_MOUNT, run_dir=RUN_MOUNT)
    # `from reprostack import log_metrics` works in images without reprostack (shim_mounts).
    env["PYTHONPATH"] = with_shim_path(env.get("PYTHONPATH", (image_env or {}).get("PYTHONPATH")))
    env["REPRO_RUN_DIR"] = RUN_MOUNT
    env["REPRO_OUTPUT_DIR"] = f"{RUN_MOUNT}/outputs"
    env["REPRO_IMAGE_ID"] = image["image_id"] or ""
    env["REPRO_IMAGE_TAG"] = image["image_tag"] or ""
    env["REPRO_IMAGE_DIGEST"] = image["image_digest"] or ""
    env["REPRO_BASE_IMAGE"] = image["base_image"] or ""
    for name in session.config.run.pass_env:
        if name in caller:
            env[name] = caller[name]
    return env


def record_image(
    facts: ContainerSection, image: ImageInfo | None = None, preferred: str | None = None
) -> ImageSection:
    """run.yaml's ``image``: id, registry digest and repository (null until pushed), tag, base.

    ``image`` gives the repository digests: the one in ``preferred`` (the project's registry
    repository) wins when the image is in several registries; and its tags: the local content
    tag (``localhost/repro-…``) is the one recorded.
    """
    from reprostack.image.tags import REGISTRY
    from reprostack.registry.reference import registry_digest

    pushed = registry_digest(image.repo_digests if image else (), preferred)
    tags = image.tags if image is not None else ()
    tag = next((t for t in tags if t.startswith(REGISTRY + "/")), facts["image_tag"])
    return {
        "id": facts["image_id"],
        "digest": pushed[1] if pushed else None,
        "repository": pushed[0] if pushed else None,
        "tag": tag,
        "base": facts["base_image"],
    }


def run_in_container(
    config: Config,
    request: RunRequest,
    *,
    gpus: str | None = None,
    image_ref: str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> RunRecord:
    """Run ``request`` in its mode's image (built first when missing or stale).

    ``progress`` receives the build's events when the image has to be built.
    """
    from reprostack.engine import connect

    engine = engine or connect()
    if image_ref is None:
        from reprostack.lock.fresh import stale_lock_notes
        from reprostack.registry.ensure import ensure_image

        request.notes += stale_lock_notes(config, request.mode, request.allow_stale)
        ensured = ensure_image(config, request.mode, progress=progress, engine=engine)
        image_ref = ensured.tag
        if ensured.note:
            request.notes.append(ensured.note)
    image = engine.image(image_ref)
    if image is None:
        raise EnvironmentMissing(f"image {image_ref} is not on this engine")
    request.mounts = with_data_mounts(config, request.mounts)
    # A signal while the record is being filled closes it as interrupted (never `running`);
    # once the container runs, signals are passed on to it (a second Ctrl-C kills it).
    facts = container_facts(image)

    def in_image(host: Fingerprint) -> Fingerprint:
        # Python, packages, OS and CUDA from inside the image (probed once per image id).
        return merge(host, probe_image(engine, image.id), facts)

    with SignalForwarder() as forwarder:
        recorders = run_recorders(in_image, SbomRecorder(engine, image))
        session = RunSession(config, request, recorders)
        try:
            with (
                session.before_start("could not prepare the container run"),
                forwarder.stopping_start(),
            ):
                requests = device_requests(gpus or config.run.gpus, engine.info().nvidia_runtime)
                env = container_env(session, facts, dict(os.environ), image.env)
                session.prepare(env)
        except RunInterrupted:
            return session.record
        command = container_command(request.argv)
        mounts = volumes_for(config, request, session.folder)
        if capture_on(config) and not request.deterministic:  # the input capture's hook
            mounts += (Mount(str(HOOK_DIR), HOOK_MOUNT, read_only=True),)
        session.context.seen_at = {m.target: m.source for m in mounts}
        with session.before_start("could not create the container"):
            container = engine.create(
                ContainerSpec(
                    image=image.id,
                    command=tuple(command),
                    user=f"{os.getuid()}:{os.getgid()}",
                    env=env,
                    # The log_metrics shim: reprostack's own files, never an input.
                    mounts=(*mounts, *shim_mounts()),
                    workdir=workdir_for(config, request),
                    gpus=tuple(requests),
                    init=True,  # a real PID 1 passes Ctrl-C on and reaps children
                    labels={"dev.reprostack.run": session.run_id},
                )
            )
        watchdog: Watchdog | None = None
        try:
            lost: EngineUnavailable | None = None
            try:
                with session.before_start("could not start the container"):
                    # Attached before the start, as `docker run` does: attaching after it
                    # races the command (a quick one's output can be lost, or doubled).
                    chunks = container.attach()
                    # From here on the container stops when repro dies, however it dies.
                    watchdog = Watchdog(container.id, session.folder)
                    container.start()
                preferred = f"{config.registry}/repro-{config.name}" if config.registry else None
                session.started(command, record_image(facts, image, preferred))
                forwarder.attach(ContainerTarget(container))
                streams = _tee(_from_engine(chunks), session.folder, stdout, stderr)
                code = container.wait()
            except EngineUnavailable as exc:  # the command had started: never exit 125
                lost = exc
            finally:
                container.remove()
            session.record.signals = list(forwarder.received)
            if lost is not None:
                return _engine_lost(session, container.id, lost)
            for stream in streams:
                session.record.notes.extend(stream.notes())
            return session.finish(code, interrupted=interrupted(code, forwarder.received))
        finally:
            if watchdog is not None:
                watchdog.release()


def _from_engine(
    chunks: Iterator[tuple[bytes | None, bytes | None]],
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """The attach stream, its transport's errors (raised raw by the SDK) said as a lost engine."""
    iterator = iter(chunks)
    while True:
        try:
            pair = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # a reset socket, a cut chunked stream: the engine went away
            raise EngineUnavailable(
                f"lost the Docker engine at {engine_address()} while reading the command's "
                f"output: {exc}",
                hint="check that the engine is still running (`docker info`)",
            ) from exc
        yield pair


def _engine_lost(session: RunSession, container_id: str, error: EngineUnavailable) -> RunRecord:
    """Close the record of a command whose engine went away while it ran.

    The command's own exit status is unknown (the record says so, and repro exits 255, not
    125: the command had started). The container is stopped and removed as soon as an engine
    answers again; when none does in time the record names it, so nothing runs unattended
    without a word.
    """
    from reprostack.engine import connect

    short = container_id[:12]
    deadline = time.monotonic() + RECONNECT_S
    stopped = (
        f"container {short} could not be stopped: no engine answered for {RECONNECT_S:.0f} s; "
        f"if it still runs, `docker rm -f {short}` stops it"
    )
    while True:
        try:
            connect().remove_container(container_id)
        except ReproError:
            if time.monotonic() < deadline:
                time.sleep(0.5)
                continue
        else:
            stopped = f"container {short} stopped and removed once the engine answered again"
        break
    session.record.notes.extend([
        "stdout.log and stderr.log may be incomplete: the connection to the engine was lost "
        "while the command ran",
        stopped,
    ])  # fmt: skip
    return session.finish(None, error=f"{error.message} (container {short})")


@dataclass(frozen=True)
class ContainerTarget:
    """Signals for a running container: passed to its init, which hands them on."""

    container: Container

    def deliver(self, signum: int, kill: bool) -> None:
        """Send ``signum`` to the container (``kill``: SIGKILL)."""
        self.container.kill(None if kill else signal.Signals(signum).name)


def _tee(
    chunks: Iterator[tuple[bytes | None, bytes | None]],
    folder: Path,
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
) -> list[Stream]:
    """Copy the container's console to the logs and the terminal until it ends."""
    out_fd = open_log(folder / "stdout.log")
    err_fd = open_log(folder / "stderr.log")
    streams = [
        Stream("stdout", None, out_fd, stdout or sys.stdout.buffer),
        Stream("stderr", None, err_fd, stderr or sys.stderr.buffer),
    ]
    try:
        for chunk_pair in chunks:
            for chunk, stream in zip(chunk_pair, streams, strict=True):
                if chunk:
                    stream.tee(chunk, streams[1].console)
        for stream in streams:
            stream.complete = True  # the attach stream ends when the container does
            stream.close()
    finally:
        os.close(out_fd)
        os.close(err_fd)
    return streams
