"""An in-memory engine implementing the engine port, for unit tests of orchestration code.

It holds images by id and reference, "builds" by hashing the context's Dockerfile, and
answers container runs with a function the test gives. Real-engine tests stay the proof that
the port's Docker implementation does the same; this one only lets the code above the port be
tested where an engine cannot be asked to fail on purpose, or in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from reprostack.engine import (
    BuildOutcome,
    BuildOutput,
    BuildSpec,
    Completed,
    ContainerSpec,
    DiskUsage,
    EngineInfo,
    EngineRefused,
    ImageInfo,
    ImageRef,
    PushCallback,
    PushProgress,
    RegistryUnavailable,
)
from reprostack.engine.errors import registry_failure
from reprostack.errors import UsageError

RunHandler = Callable[[ContainerSpec], Completed]


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FakeContainer:
    """A container of the fake engine: it "runs" when started, through the engine's handler."""

    engine: FakeEngine
    spec: ContainerSpec
    id: str
    result: Completed | None = None
    removed: bool = False
    signals: list[str | None] = field(default_factory=list)

    def attach(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        def chunks() -> Iterator[tuple[bytes | None, bytes | None]]:
            assert self.result is not None, "attach() is read after start()"
            yield self.result.stdout or None, self.result.stderr or None

        return chunks()

    def start(self) -> None:
        self.result = self.engine.handler(self.spec)

    def wait(self) -> int:
        assert self.result is not None
        return self.result.exit_code

    def kill(self, signal: str | None = None) -> None:
        self.signals.append(signal)

    def logs(self) -> tuple[bytes, bytes]:
        assert self.result is not None
        return self.result.stdout, self.result.stderr

    def export(self) -> Iterator[bytes]:
        return iter(())

    def remove(self) -> None:
        self.removed = True


@dataclass
class FakeEngine:
    """The engine port in memory. ``handler`` answers every container run."""

    handler: RunHandler = lambda spec: Completed(0, b"", b"")
    own_platform: str = "linux/amd64"
    nvidia: bool = False
    buildkit: bool = True
    images: dict[str, ImageInfo] = field(default_factory=dict)  # by id
    refs: dict[str, str] = field(default_factory=dict)  # reference -> id
    builds: list[BuildSpec] = field(default_factory=list)
    containers: list[FakeContainer] = field(default_factory=list)
    registry: dict[str, str] = field(default_factory=dict)  # "repo@digest" -> image id
    fail_build: str | None = None  # the builder's error for the next builds
    build_cache: dict[str, int] = field(default_factory=dict)  # record id -> bytes

    @property
    def address(self) -> str:
        return "fake://engine"

    def add_image(self, ref: str, **facts: object) -> ImageInfo:
        """Put an image on the fake engine under ``ref``; return it."""
        image = ImageInfo(id=_digest(ref), tags=(ref,), **facts)  # type: ignore[arg-type]
        self.images[image.id] = image
        self.refs[ref] = image.id
        return image

    def info(self) -> EngineInfo:
        return EngineInfo(platform=self.own_platform, nvidia_runtime=self.nvidia)

    def platform(self) -> str:
        return self.own_platform

    def supports_buildkit(self) -> bool:
        return self.buildkit

    def image(self, ref: str) -> ImageInfo | None:
        image_id = ref if ref in self.images else self.refs.get(ref)
        return self.images.get(image_id) if image_id else None

    def tag(self, image: str, ref: str) -> None:
        found = self.image(image)
        assert found is not None, f"tagging a missing image {image}"
        for other_id, other in self.images.items():
            if ref in other.tags and other_id != found.id:
                self.images[other_id] = replace(
                    other, tags=tuple(t for t in other.tags if t != ref)
                )
        found = self.images[found.id]
        if ref not in found.tags:
            self.images[found.id] = replace(found, tags=(*found.tags, ref))
        self.refs[ref] = found.id

    def remove_image(self, ref: str) -> None:
        image_id = ref if ref in self.images else self.refs.pop(ref, None)
        if image_id in self.images and (ref == image_id or not self.images[image_id].tags[1:]):
            del self.images[image_id]

    def save_image(self, ref: str, dest: Path) -> None:
        """A docker-archive-shaped tar: manifest.json and the image's facts as its config."""
        found = self.image(ref)
        if found is None:
            raise EngineRefused(f"the fake engine has no image {ref}")
        config = json.dumps(asdict(found), sort_keys=True).encode()
        name = found.id.removeprefix("sha256:") + ".json"
        tags = [ref] if ref in found.tags else []
        manifest = json.dumps([{"Config": name, "RepoTags": tags, "Layers": []}]).encode()
        with tarfile.open(dest, "w") as tar:
            for member, data in (("manifest.json", manifest), (name, config)):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    def load_image(self, source: Path) -> tuple[str, ...]:
        loaded = []
        with tarfile.open(source) as tar:
            manifest = tar.extractfile("manifest.json")
            assert manifest is not None
            for entry in json.load(manifest):
                config = tar.extractfile(entry["Config"])
                assert config is not None
                facts = json.load(config)
                facts = {k: tuple(v) if isinstance(v, list) else v for k, v in facts.items()}
                image = ImageInfo(**facts)
                self.images[image.id] = image
                for tag in entry["RepoTags"]:
                    self.refs[tag] = image.id
                loaded.append(image.id)
        return tuple(loaded)

    def build(self, spec: BuildSpec, on_output: BuildOutput) -> BuildOutcome:
        self.builds.append(spec)
        dockerfile = (spec.context / spec.dockerfile).read_text()
        on_output("status", f"fake {spec.builder} build of {spec.name}")
        if self.fail_build is not None:
            return BuildOutcome(None, self.fail_build)
        image = ImageInfo(
            id=_digest(dockerfile + repr(sorted(spec.labels.items()))),
            labels=dict(spec.labels),
            architecture=spec.platform.split("/")[1],
        )
        self.images[image.id] = image
        if spec.builder == "buildkit":  # BuildKit keeps what it made in its cache
            self.build_cache[f"record-{len(self.builds)}"] = 1 << 20
        return BuildOutcome(image.id)

    def remove_container(self, container_id: str) -> None:
        for container in self.containers:
            if container.id == container_id:
                container.removed = True

    def create(self, spec: ContainerSpec) -> FakeContainer:
        if self.image(spec.image) is None:
            raise EngineRefused(f"the fake engine has no image {spec.image}")
        container = FakeContainer(self, spec, id=f"fake-{len(self.containers)}")
        self.containers.append(container)
        return container

    def run(self, spec: ContainerSpec) -> Completed:
        container = self.create(spec)
        try:
            container.start()
            assert container.result is not None
            return container.result
        finally:
            container.remove()

    def push(self, ref: str, progress: PushCallback | None = None) -> str:
        found = self.image(ref)
        if found is None:
            raise RegistryUnavailable(f"pushing {ref} failed: no such image")
        digest = _digest("manifest:" + found.id)
        repository = ImageRef.parse(ref).repository
        self.registry[f"{repository}@{digest}"] = found.id
        self.images[found.id] = replace(
            found, repo_digests=(*found.repo_digests, f"{repository}@{digest}")
        )
        if progress is not None:
            progress(PushProgress(status="Pushed", layer=found.id[7:19]))
        return digest

    def pull(self, ref: str, progress: PushCallback | None = None) -> ImageInfo:
        if ImageRef.parse(ref).digest is None:
            raise UsageError(f"{ref} names no digest")
        if ref not in self.registry:
            raise registry_failure("pulling", ref, "manifest unknown")
        self.refs[ref] = self.registry[ref]
        return self.images[self.registry[ref]]

    def pull_to_pin(self, ref: str) -> ImageInfo:
        raise RegistryUnavailable(f"pulling {ref} failed: the fake engine reaches no registry")

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        found = self.image(ref)
        return found.repo_digests if found else ()

    def disk_usage(self) -> DiskUsage:
        sizes = {image_id: 1 for image_id in self.images}
        return DiskUsage(images=sizes, build_cache=dict(self.build_cache))

    def remove_build_cache(self, record_id: str) -> None:
        self.build_cache.pop(record_id, None)

    def close(self) -> None:
        pass
