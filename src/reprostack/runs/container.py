"""Run a command in the dev or prod image, recording it exactly as a local run.

The run folder is mounted at ``/repro/run`` so logs and outputs land on the host; the process
runs as the caller's uid:gid so the files belong to them; the container is always removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO

from reprostack.config import Config
from reprostack.determinism import HOOK_DIR, HOOK_MOUNT
from reprostack.errors import CheckFailed
from reprostack.fingerprint.image import container_facts, merge, run_probe
from reprostack.runs.diff import diff_fingerprints, render_diff
from reprostack.runs.gpus import device_requests
from reprostack.runs.record import RunRecord
from reprostack.runs.session import RunInterrupted, RunRequest, RunSession
from reprostack.runs.signals import SignalForwarder

if TYPE_CHECKING:
    from reprostack.image.progress import ProgressCallback

RUN_MOUNT = "/repro/run"
DEV_WORKDIR = "/workspace"
PROD_WORKDIR = "/app"
# What the image alone decides; host facts (driver, GPUs, git) are compared elsewhere.
IMAGE_GROUPS_IGNORED = ("git", "locks", "os", "hardware", "env", "container")


def container_command(argv: list[str]) -> list[str]:
    """``train.py ARGS`` runs with the image's python3 (a repro image's venv is first on PATH)."""
    if argv and argv[0].endswith(".py"):
        return ["python3", *argv]
    return list(argv)


def volumes_for(config: Config, request: RunRequest, folder: Path) -> dict[str, dict[str, str]]:
    """The run folder, the working tree (dev), user mounts, and absolute path arguments."""
    volumes = {str(folder.resolve()): {"bind": RUN_MOUNT, "mode": "rw"}}
    if request.deterministic:
        volumes[str(HOOK_DIR)] = {"bind": HOOK_MOUNT, "mode": "ro"}
    if request.mode == "dev":
        volumes[str(config.root.resolve())] = {"bind": DEV_WORKDIR, "mode": "rw"}
    for mount in request.mounts:
        source, _, rest = mount.partition(":")
        target, _, mode = rest.partition(":")
        volumes[str(Path(source).expanduser().resolve())] = {"bind": target, "mode": mode or "rw"}
    for arg in request.argv[1:]:
        # An absolute path argument (a dataset, a config outside the repo) is reachable at
        # the same path, read-only; data reaches containers only through mounts
        # (run.mounts in docs/reference/repro-yaml.md).
        candidate = arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg
        if candidate.startswith("/") and Path(candidate).exists():
            path = str(Path(candidate).resolve())
            if not any(path == src or path.startswith(src + "/") for src in volumes):
                volumes[path] = {"bind": path, "mode": "ro"}
    return volumes


def with_data_mounts(config: Config, mounts: list[str]) -> list[str]:
    """``mounts`` plus each dataset of repro.yaml, read-only at the same path (recorded in
    run.yaml, so a script's paths mean the same inside and out)."""
    targets = {mount.split(":")[1] for mount in mounts if mount.count(":") >= 1}
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
    image: dict[str, Any],
    caller: dict[str, str],
    image_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The command's environment: repro.yaml env, REPRO_*, pass_env from the caller, image ids.

    ``image_env`` is the image's own ENV: a PYTHONPATH set there is kept behind the hook's.
    """
    base = {"HOME": "/tmp"}
    pythonpath = (image_env or {}).get("PYTHONPATH")
    if session.request.deterministic and pythonpath:
        base["PYTHONPATH"] = pythonpath
    env = session.run_env(base, hook_dir=HOOK_MOUNT, run_dir=RUN_MOUNT)
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


def image_environment(image: Any) -> dict[str, str]:
    """The ENV an image's processes start with (``NAME=value`` pairs of its config)."""
    pairs = (image.attrs.get("Config") or {}).get("Env") or []
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def record_image(facts: dict[str, Any]) -> dict[str, Any]:
    """run.yaml's ``image``: id, digest (null until pushed), tag, and the pinned base."""
    return {
        "id": facts["image_id"],
        "digest": facts["image_digest"],
        "tag": facts["image_tag"],
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
) -> RunRecord:
    """Run ``request`` in its mode's image (built first when missing or stale).

    ``progress`` receives the build's events when the image has to be built.
    """
    from reprostack.engine import connect, nvidia_runtime

    client = connect()
    if image_ref is None:
        from reprostack.image.build import ensure_image

        image_ref = ensure_image(config, request.mode, progress=progress, client=client)
    image = client.images.get(image_ref)
    request.mounts = with_data_mounts(config, request.mounts)
    # A signal while the record is being filled closes it as interrupted (never `running`).
    with SignalForwarder() as forwarder:
        session = RunSession(config, request)
        try:
            with (
                session.before_start("could not prepare the container run"),
                forwarder.stopping_start(),
            ):
                requests = device_requests(gpus or config.run.gpus, nvidia_runtime(client))
                facts = container_facts(image)
                env = container_env(session, facts, dict(os.environ), image_environment(image))
                inside = run_probe(client, image.id)
                session.prepare(env, lambda host: merge(host, inside, facts))
        except RunInterrupted:
            return session.record
    command = container_command(request.argv)
    with session.before_start("could not create the container"):
        container = client.containers.create(
            image.id,
            command,
            user=f"{os.getuid()}:{os.getgid()}",
            environment=env,
            volumes=volumes_for(config, request, session.folder),
            working_dir=workdir_for(config, request),
            device_requests=_sdk_device_requests(requests),
            init=True,  # a real PID 1 passes Ctrl-C on and reaps children
            labels={"dev.reprostack.run": session.run_id},
        )
    try:
        session.started(command, record_image(facts))
        # Attached before the start, as `docker run` does: attaching after it races the
        # command (a quick one's output can be lost, or replayed twice by logs=True).
        chunks = _attach(client, container)
        container.start()
        code, interrupted = _stream_and_wait(chunks, container, session.folder, stdout, stderr)
    finally:
        with contextlib.suppress(Exception):  # the engine may be gone; nothing else to clean
            container.remove(force=True)
    return session.finish(code, interrupted=interrupted)


def _sdk_device_requests(requests: list[dict[str, Any]]) -> list[Any]:
    from docker.types import DeviceRequest

    return [
        DeviceRequest(
            driver=r["Driver"], count=r.get("Count"), device_ids=r.get("DeviceIDs"),
            capabilities=r["Capabilities"],
        )
        for r in requests
    ]  # fmt: skip


def _stream_and_wait(
    chunks: Iterator[tuple[bytes | None, bytes | None]],
    container: Any,
    folder: Path,
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
) -> tuple[int, bool]:
    """Copy the container's console to the logs and the terminal; return (exit code, ^C?)."""
    interrupts = 0

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        try:
            if signum == signal.SIGINT and interrupts > 1:
                container.kill()
            else:
                container.kill(signal=signal.Signals(signum).name)
        except Exception:  # already gone
            pass

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in handled}
    out_console = stdout or sys.stdout.buffer
    err_console = stderr or sys.stderr.buffer
    try:
        with (
            open(folder / "stdout.log", "wb") as out_log,
            open(folder / "stderr.log", "wb") as err_log,
        ):
            for out, err in chunks:
                for chunk, log, console in (
                    (out, out_log, out_console),
                    (err, err_log, err_console),
                ):
                    if chunk:
                        log.write(chunk)
                        log.flush()
                        console.write(chunk)
                        console.flush()
        status = container.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(status.get("StatusCode", 1)), interrupts > 0


def _attach(client: Any, container: Any) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Attach now (the request is made here, not when iterated); (stdout, stderr) chunks."""
    stream: Iterator[tuple[bytes | None, bytes | None]] = client.api.attach(
        container.id, stdout=True, stderr=True, stream=True, logs=False, demux=True
    )
    return stream


def image_environment_diff(recorded: dict[str, Any], image_fp: dict[str, Any]) -> str | None:
    """What differs between a recorded fingerprint and an image's (packages, Python, CUDA)."""
    diff = diff_fingerprints(recorded, image_fp, ignore=(*IMAGE_GROUPS_IGNORED, "cuda"))
    recorded_cuda = recorded.get("cuda")
    image_cuda = image_fp.get("cuda")
    lines = render_diff(diff) if not diff.empty else ""
    if recorded_cuda != image_cuda:
        lines += f"\ncuda: {recorded_cuda} -> {image_cuda}"
    return lines.strip() or None


def replay_in_container(
    config: Config,
    request: RunRequest,
    original: Path,
    recorded_fp: dict[str, Any],
    *,
    rebuild: bool,
    force: bool,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> RunRecord:
    """Replay in the recorded image, or one rebuilt from the run's ``env/`` folder."""
    from reprostack.engine import connect
    from reprostack.image.build import rebuild_from_record
    from reprostack.runs.record import read_record

    client = connect()
    record = read_record(original)
    image_id = (record.image or {}).get("id")
    present = False
    if image_id and not rebuild:
        try:
            client.images.get(image_id)
            present = True
        except Exception:
            present = False
    if not present or image_id is None:
        image_id = rebuild_from_record(config, original, record)
    image_fp = run_probe(client, image_id)
    difference = image_environment_diff(recorded_fp, image_fp)
    if difference and not force:
        raise CheckFailed(
            f"the image for run {record.id} differs from the recorded environment; nothing "
            f"was run:\n{difference}",
            hint="pass --force to run anyway",
        )
    return run_in_container(config, request, image_ref=image_id, stdout=stdout, stderr=stderr)
