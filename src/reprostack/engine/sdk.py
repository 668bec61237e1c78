"""The engine port on a real Docker engine, through the ``docker`` SDK (and the CLI for BuildKit).

This is the only module that touches SDK objects; it returns the port's dataclasses and turns
every SDK failure into a reprostack error (see :mod:`reprostack.engine.errors`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reprostack.engine import cli
from reprostack.engine.errors import (
    EngineRefused,
    engine_address,
    engine_errors,
    lost_engine,
    registry_failure,
    unreachable,
)
from reprostack.engine.types import (
    BuildOutcome,
    BuildOutput,
    BuildSpec,
    Completed,
    ContainerSpec,
    DiskUsage,
    EngineInfo,
    ImageInfo,
    ImageRef,
    PushCallback,
    PushProgress,
    normal_platform,
)
from reprostack.errors import UsageError

DEFAULT_TIMEOUT = 10.0
# Removing a multi-GB image makes the engine delete every file of its layers before it
# answers: minutes on a slow disk (a 5.6 GB torch image did not answer within 10 s).
REMOVE_TIMEOUT = 900.0


def connect(timeout: float = DEFAULT_TIMEOUT) -> DockerEngine:
    """Connect to the engine at ``DOCKER_HOST`` (or the default socket) and ping it.

    Returns the engine port speaking the daemon's own API version. Raises EngineUnavailable
    (exit 3) naming the address when no engine answers there.
    """
    import docker
    import requests

    # Built from DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH only, not from the CLI's
    # "current context" as newer SDKs do: the address in an error must be the one we tried.
    params = docker.utils.kwargs_from_env()
    params.setdefault("base_url", engine_address({}))
    try:
        client = docker.DockerClient(timeout=timeout, **params)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise unreachable(exc, timeout) from exc
    return DockerEngine(client)


def nvidia_runtime_from_info(info: Mapping[str, Any]) -> bool:
    """Return whether a ``docker info`` answer shows the NVIDIA runtime or NVIDIA CDI devices.

    The NVIDIA Container Toolkit registers a runtime named ``nvidia``; engines with CDI (API
    1.47+) list devices such as ``nvidia.com/gpu=0`` under ``DiscoveredDevices``. A configured
    ``CDISpecDirs`` alone says nothing about GPUs, so it does not count.
    """
    runtimes = info.get("Runtimes") or {}
    if "nvidia" in runtimes or info.get("DefaultRuntime") == "nvidia":
        return True
    for device in info.get("DiscoveredDevices") or []:
        if isinstance(device, Mapping) and str(device.get("ID", "")).startswith("nvidia.com/gpu"):
            return True
    return False


def image_info(image: Any) -> ImageInfo:
    """Return the port's view of an SDK image object."""
    attrs = image.attrs
    config = attrs.get("Config") or {}
    env_lines = config.get("Env") or []
    return ImageInfo(
        id=str(image.id),
        tags=tuple(image.tags),
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        labels=dict(config.get("Labels") or {}),
        env=dict(line.split("=", 1) for line in env_lines if "=" in line),
        os=str(attrs.get("Os") or "linux"),
        architecture=str(attrs.get("Architecture") or ""),
    )


class DockerContainer:
    """A created container on a Docker engine."""

    def __init__(self, client: Any, container: Any, action: str) -> None:
        self._client = client
        self._container = container
        self._action = action

    @property
    def id(self) -> str:
        """Return the container's id."""
        return str(self._container.id)

    def attach(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        """Attach now (the request is made here, not when iterated); (stdout, stderr) chunks."""
        with engine_errors(f"attaching to {self._action}"):
            stream: Iterator[tuple[bytes | None, bytes | None]] = self._client.api.attach(
                self._container.id, stdout=True, stderr=True, stream=True, logs=False, demux=True
            )
        return stream

    def start(self) -> None:
        """Start the container."""
        with engine_errors(f"starting {self._action}"):
            self._container.start()

    def wait(self) -> int:
        """Wait for the container to end; return its exit code."""
        with engine_errors(f"waiting for {self._action}"):
            status = self._container.wait()
        return int(status.get("StatusCode", 1))

    def kill(self, signal: str | None = None) -> None:
        """Send ``signal`` (None: SIGKILL); a container that is already gone is fine."""
        with contextlib.suppress(Exception):  # gone, or the engine with it: nothing to stop
            if signal is None:
                self._container.kill()
            else:
                self._container.kill(signal=signal)

    def logs(self) -> tuple[bytes, bytes]:
        """Return everything the container wrote: (stdout, stderr)."""
        with engine_errors(f"reading the output of {self._action}"):
            out = self._container.logs(stdout=True, stderr=False)
            err = self._container.logs(stdout=False, stderr=True)
        return bytes(out), bytes(err)

    def export(self) -> Iterator[bytes]:
        """Stream the container's filesystem as a tar archive."""
        with engine_errors(f"exporting {self._action}"):
            chunks: Iterator[bytes] = self._container.export()
        return chunks

    def remove(self) -> None:
        """Remove the container; an engine that is gone leaves nothing else to clean."""
        with contextlib.suppress(Exception):
            self._container.remove(force=True)


class DockerEngine:
    """The engine port on a Docker engine (see :class:`reprostack.engine.port.Engine`)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._platform: str | None = None

    @property
    def address(self) -> str:
        """Return where the engine answers."""
        return engine_address()

    def info(self) -> EngineInfo:
        """Return the engine's platform and whether it can give containers NVIDIA GPUs."""
        with engine_errors("reading `docker info`"):
            info = self._client.info()
        return EngineInfo(
            platform=self.platform(),
            nvidia_runtime=nvidia_runtime_from_info(info),
            server_version=str(info.get("ServerVersion") or ""),
        )

    def platform(self) -> str:
        """Return the engine's own platform (``linux/amd64``); asked once per connection."""
        if self._platform is None:
            with engine_errors("reading `docker version`"):
                version = self._client.version()
            self._platform = normal_platform(version.get("Os"), version.get("Arch"))
        return self._platform

    def supports_buildkit(self) -> bool:
        """Return whether a docker CLI here can run BuildKit builds against this engine."""
        return cli.buildkit_available()

    def image(self, ref: str) -> ImageInfo | None:
        """Look an image up by name, id or digest reference; None when the engine lacks it."""
        import docker

        with engine_errors(f"inspecting image {ref}"):
            try:
                return image_info(self._client.images.get(ref))
            except docker.errors.ImageNotFound:
                return None

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        """Return a local image's repository digests (``repo@sha256:...``); () when absent."""
        found = self.image(ref)
        return found.repo_digests if found is not None else ()

    def tag(self, image: str, ref: str) -> None:
        """Point the tag ``ref`` (``repo:tag``) at ``image``."""
        parsed = ImageRef.parse(ref)
        with engine_errors(f"tagging {ref}"):
            self._client.api.tag(image, parsed.repository, parsed.tag or "latest", force=True)

    def remove_image(self, ref: str) -> None:
        """Remove an image reference; its untagged parent layers (legacy builds) go with it."""
        api = self._client.api
        with (
            engine_errors(f"removing image {ref[:19] if ref.startswith('sha256:') else ref}"),
            _timeout(api, REMOVE_TIMEOUT),
        ):
            self._client.images.remove(ref, force=False, noprune=False)

    def save_image(self, ref: str, dest: Path) -> None:
        """Stream ``docker save REF`` into ``dest`` (a docker archive; the tag kept)."""
        api = self._client.api
        shown = ref[:19] if ref.startswith("sha256:") else ref
        # A multi-GB image takes minutes to stream: no read may time out half way.
        with engine_errors(f"saving image {shown}"), _timeout(api, REMOVE_TIMEOUT):
            chunks = api.get_image(ref)
            with dest.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)

    def load_image(self, source: Path) -> tuple[str, ...]:
        """``docker load -i SOURCE``; the ids of the images it loaded (named ones looked up)."""
        api = self._client.api
        loaded: list[str] = []
        error: str | None = None
        with engine_errors(f"loading {source.name}"), _timeout(api, REMOVE_TIMEOUT):
            with source.open("rb") as handle:
                events = list(api.load_image(handle, quiet=True))
            for event in events:
                if "error" in event:
                    detail = event.get("errorDetail") or {}
                    error = str(detail.get("message") or event["error"]).strip()
                    continue
                line = str(event.get("stream") or "").strip()
                if line.startswith("Loaded image ID: "):
                    loaded.append(line.removeprefix("Loaded image ID: "))
                elif line.startswith("Loaded image: "):
                    # Podman's compatible API names every tag of the archive on one line.
                    for name in line.removeprefix("Loaded image: ").split(","):
                        found = self.image(name.strip())
                        if found is not None:
                            loaded.append(found.id)
        if error is not None:
            raise EngineRefused(f"the engine could not load {source}: {error}")
        return tuple(dict.fromkeys(loaded))

    def remove_container(self, container_id: str) -> None:
        """Stop (SIGKILL) and remove a container by id; one that is gone already is fine."""
        import docker

        with engine_errors(f"removing container {container_id[:12]}"):
            try:
                self._client.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                return

    def disk_usage(self) -> DiskUsage:
        """Return the engine's images and build cache records (the API's ``/system/df``)."""
        with engine_errors("reading the engine's disk usage (`docker system df`)"):
            df = self._client.api.df()
        records = df.get("BuildCache") or []
        return DiskUsage(
            images={str(i["Id"]): int(i.get("Size") or 0) for i in df.get("Images") or []},
            build_cache={str(r["ID"]): int(r.get("Size") or 0) for r in records},
            cache_in_use=frozenset(str(r["ID"]) for r in records if r.get("InUse")),
        )

    def remove_build_cache(self, record_id: str) -> None:
        """Remove one build cache record (``docker builder prune --filter id=...``)."""
        # The daemon takes one value per filter key, and matches ids as a pattern: anchored,
        # so that one id never removes another that starts with it.
        with engine_errors(f"removing build cache record {record_id}"):
            self._client.api.prune_builds(filters={"id": f"^{record_id}$"}, all=True)

    def build(self, spec: BuildSpec, on_output: BuildOutput) -> BuildOutcome:
        """Build with BuildKit (through the CLI) or the legacy builder (through the SDK).

        A build that ends without an image while the engine no longer answers lost the
        engine, whatever the builder said last: EngineUnavailable (exit 3), never a failed
        step.
        """
        if spec.builder == "buildkit":
            outcome = cli.build_with_cli(spec, on_output)
        else:
            outcome = self._build_legacy(spec, on_output)
        if outcome.image_id is None and not self._answers():
            # The builder's last words ("docker build exited 1", a cut stream) blame the step
            # it was in; the step did not fail, the engine went away under it.
            raise lost_engine(f"building {spec.name}", "it stopped answering during the build")
        return outcome

    def _answers(self) -> bool:
        """Return whether the engine still answers a ping."""
        try:
            return bool(self._client.ping())
        except Exception:  # any failure to answer is the answer
            return False

    def _build_legacy(self, spec: BuildSpec, on_output: BuildOutput) -> BuildOutcome:
        if spec.secrets:
            raise UsageError("the legacy builder cannot take build secrets; use BuildKit")
        # The labels go on as one LABEL step at the end of the context's copy of the
        # Dockerfile: the SDK's ``labels=`` makes the legacy builder add one step per label,
        # and a second `FROM <id>` build costs a whole builder run.
        if spec.labels:
            with (spec.context / spec.dockerfile).open("a", encoding="utf-8") as handle:
                handle.write(f"\n{label_instruction(spec.labels)}\n")
        # The legacy builder treats an explicit platform as a reason to look a base up for
        # that platform, which fails for images imported without platform metadata.
        platform = None if spec.platform == self.platform() else spec.platform
        # The legacy builder seeds its cache only from local images: build.cache's images are
        # pulled first (those the registry does not have yet are skipped, as BuildKit does).
        cache_from = [] if spec.no_cache else self._pull_cache(spec.cache.images, on_output)
        image_id: str | None = None
        error: str | None = None
        with engine_errors(f"building {spec.name}"):
            stream = self._client.api.build(
                path=str(spec.context),
                dockerfile=spec.dockerfile,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=spec.no_cache,
                decode=True,
                platform=platform,
                network_mode=spec.network,
                cache_from=cache_from or None,
            )
            for chunk in stream:
                if "stream" in chunk:
                    on_output("legacy", str(chunk["stream"]))
                elif "error" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    error = str(detail.get("message") or chunk["error"]).strip()
                elif "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = str(chunk["aux"]["ID"])
                elif "status" in chunk:
                    on_output("status", str(chunk["status"]))
        if error is not None or image_id is None:
            return BuildOutcome(None, error or "the builder ended without an image")
        return BuildOutcome(image_id)

    def _pull_cache(self, refs: tuple[str, ...], on_output: BuildOutput) -> list[str]:
        """Pull each cache image by its tag; return those the engine now holds."""
        import docker
        import requests

        found: list[str] = []
        for ref in refs:
            parsed = ImageRef.parse(ref)
            error: str | None = None
            try:
                events = self._client.api.pull(
                    parsed.repository, tag=parsed.tag or "latest", stream=True, decode=True
                )
                for event in events:
                    if "error" in event:
                        error = str(event["error"]).strip()
            except (docker.errors.DockerException, requests.RequestException) as exc:
                error = str(getattr(exc, "explanation", None) or exc)
            if error is None and self.image(ref) is not None:
                found.append(ref)
                on_output("status", f"cache image {ref} pulled")
            else:
                on_output("status", f"cache image {ref} not used: {error or 'not found'}")
        return found

    def create(self, spec: ContainerSpec) -> DockerContainer:
        """Create (not start) a container."""
        action = (
            f"a container of {spec.image[:19] if spec.image.startswith('sha256:') else spec.image}"
        )
        with engine_errors(f"creating {action}"):
            container = self._client.containers.create(spec.image, **self._options(spec))
        return DockerContainer(self._client, container, action)

    def run(self, spec: ContainerSpec) -> Completed:
        """Run a container to its end, collect its output and remove it."""
        container = self.create(spec)
        try:
            container.start()
            code = container.wait()
            out, err = container.logs()
        finally:
            container.remove()
        return Completed(code, out, err)

    def _options(self, spec: ContainerSpec) -> dict[str, Any]:
        options: dict[str, Any] = {
            "command": list(spec.command),
            "environment": dict(spec.env),
            "volumes": {m.source: {"bind": m.target, "mode": m.mode} for m in spec.mounts},
            "labels": dict(spec.labels),
        }
        if spec.entrypoint is not None:
            options["entrypoint"] = list(spec.entrypoint)
        if spec.user is not None:
            options["user"] = spec.user
        if spec.workdir is not None:
            options["working_dir"] = spec.workdir
        if spec.network == "none":
            options["network_disabled"] = True
        elif spec.network is not None:
            options["network_mode"] = spec.network
        if spec.init:
            options["init"] = True  # a real PID 1 passes Ctrl-C on and reaps children
        if spec.platform is not None:
            options["platform"] = spec.platform
        if spec.gpus:
            from docker.types import DeviceRequest

            options["device_requests"] = [
                DeviceRequest(
                    driver="nvidia", count=gpu.count, device_ids=list(gpu.device_ids) or None,
                    capabilities=[["gpu"]],
                )
                for gpu in spec.gpus
            ]  # fmt: skip
        return options

    def push(self, ref: str, progress: PushCallback | None = None) -> str:
        """Push ``repo:tag`` to its registry; return the manifest digest (``sha256:...``).

        Credentials come from the docker CLI's config (``docker login``), as for ``docker
        push``. Raises RegistryUnavailable when the registry refuses or cannot be reached.
        """
        parsed = ImageRef.parse(ref)
        if parsed.digest or not parsed.tag:
            raise UsageError(f"push needs a tagged reference (repo:tag), not {ref!r}")
        digest: str | None = None
        error: str | None = None
        with engine_errors(f"pushing {ref}"):
            events = self._client.images.push(
                parsed.repository, tag=parsed.tag, stream=True, decode=True
            )
            for event in events:
                if "error" in event:
                    detail = event.get("errorDetail") or {}
                    error = str(detail.get("message") or event["error"]).strip()
                    continue
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                if progress is not None and "status" in event:
                    detail = event.get("progressDetail") or {}
                    progress(
                        PushProgress(
                            status=str(event["status"]),
                            layer=event.get("id"),
                            current=detail.get("current"),
                            total=detail.get("total"),
                        )
                    )
        if error is not None or digest is None:
            raise registry_failure("pushing", ref, error or "the engine reported no digest")
        return digest

    def pull(self, ref: str, progress: PushCallback | None = None) -> ImageInfo:
        """Pull ``repo@sha256:...``; a tag is refused (what it names can change)."""
        parsed = ImageRef.parse(ref)
        if parsed.digest is None:
            raise UsageError(
                f"{ref} names no digest; only repo@sha256:... can be pulled reproducibly",
                hint="use the digest a push printed or a run record holds",
            )
        return self._pull(parsed.repository, parsed.digest, ref, progress)

    def pull_to_pin(self, ref: str) -> ImageInfo:
        """Pull a base image by tag (or digest) so that it can be pinned right after."""
        parsed = ImageRef.parse(ref)
        return self._pull(parsed.repository, parsed.digest or parsed.tag or "latest", ref)

    def _pull(
        self, repository: str, tag: str, shown: str, progress: PushCallback | None = None
    ) -> ImageInfo:
        """Pull and return the image; the registry's own words when it fails."""
        import docker
        import requests

        error: str | None = None
        try:
            # The low-level stream: the high-level pull drops the registry's error events and
            # then fails on a lookup that only says "no such image".
            for event in self._client.api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    detail = event.get("errorDetail") or {}
                    error = str(detail.get("message") or event["error"]).strip()
                elif progress is not None and "status" in event:
                    detail = event.get("progressDetail") or {}
                    progress(PushProgress(status=str(event["status"]), layer=event.get("id"),
                                          current=detail.get("current"),
                                          total=detail.get("total")))  # fmt: skip
        except (docker.errors.DockerException, requests.RequestException) as exc:
            error = str(getattr(exc, "explanation", None) or exc)
        if error is not None:
            raise registry_failure("pulling", shown, error)
        separator = "@" if tag.startswith("sha256:") else ":"
        found = self.image(f"{repository}{separator}{tag}")
        if found is None:
            raise registry_failure("pulling", shown, "the engine reported no image")
        return found

    def close(self) -> None:
        """Release the connection."""
        self._client.close()


def label_instruction(labels: Mapping[str, str]) -> str:
    """One ``LABEL`` instruction holding every label, sorted."""
    return "LABEL " + " ".join(f"{key}={_quote(value)}" for key, value in sorted(labels.items()))


def _quote(value: str) -> str:
    """Quote a LABEL value: no variable expansion, no line breaks."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", " ") + '"'


@contextlib.contextmanager
def _timeout(api: Any, seconds: float) -> Iterator[None]:
    """Let the SDK's calls inside wait at least ``seconds`` for the engine's answer."""
    before = api.timeout
    api.timeout = None if before is None else max(seconds, before)  # None: no limit at all
    try:
        yield
    finally:
        api.timeout = before
