"""Dependency layers split by weight, and build caches in a registry.

A change to a light pin rebuilds only the light layer (the heavy one comes from the cache),
checked on the real engine against the loopback package index with one family marked heavy
by name (``build.heavy``). Build caches: an image pushed with ``build.cache.to`` seeds a
build whose engine has no cache of it (``build.cache.from``), on the loopback registry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgindex import CATALOGUE, LocalIndex, build_index, serve
from projects import build_variant
from reprostack.config import Config, load_config, parse_config
from reprostack.config.sections.build import BuildConfig
from reprostack.engine import BuildCache, BuildSpec, buildkit_available
from reprostack.engine.cli import cache_arguments
from reprostack.errors import ConfigError
from reprostack.image.context import write_heavy_dir
from reprostack.image.progress import BuildEvent, BuildLog
from reprostack.image.weight import HEAVY_FAMILIES, heavy_patterns, is_heavy, split_lock

HEADER = """# Written by `repro lock`; do not edit by hand (`repro lock --check` notices).
# repro-lock: 1
# variant: prod
# tool: hand 1
# python: 3.11
# platform: linux/amd64
# inputs-sha256: {zeros}
{wheels}# body-sha256: {body_sha256}

"""


def _lock(index_url: str, files: Path, pins: dict[str, str], *, wheels_all: bool) -> str:
    body = f"--index-url {index_url}\n\n"
    for name, version in sorted(pins.items()):
        wheel = files / f"{name}-{version}-py3-none-any.whl"
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        body += f"{name}=={version} \\\n    --hash=sha256:{digest}\n"
    return (
        HEADER.format(
            zeros="0" * 64,
            wheels="# wheels: all\n" if wheels_all else "",
            body_sha256=hashlib.sha256(body.encode()).hexdigest(),
        )
        + body
    )


# -- without an engine --


def test_the_heavy_part_keeps_index_options_hashes_and_order() -> None:
    lock = (
        "--index-url https://example.com/simple\n--only-binary=:all:\n-c other.txt\n\n"
        "alpha==1.0 \\\n    --hash=sha256:aa\n"
        "torch==2.5.1 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
        'nvidia-cublas-cu12==12.4.5.8 ; sys_platform == "linux" \\\n    --hash=sha256:dd\n'
        "setuptools==75.0 \\\n    --hash=sha256:ee\n"
        "Beta_Lib==2.0 \\\n    --hash=sha256:ff\n"
    )
    split = split_lock(lock, heavy_patterns(["beta-lib"]))
    assert split.heavy == ("beta-lib", "nvidia-cublas-cu12", "setuptools", "torch")
    text = split.heavy_text
    assert "--index-url https://example.com/simple\n--only-binary=:all:\n" in text
    assert "-c other.txt" not in text and "alpha" not in text
    assert "torch==2.5.1 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n" in text
    assert 'sys_platform == "linux" \\\n    --hash=sha256:dd' in text
    assert text.index("torch==") < text.index("nvidia-cublas") < text.index("Beta_Lib")
    # Nothing heavy: the part holds only the options (pip installs nothing from it).
    assert "==" not in split_lock("alpha==1.0 --hash=sha256:aa\n", HEAVY_FAMILIES).heavy_text


def test_heavy_is_decided_by_normalised_name() -> None:
    for name in ("torch", "Torch", "nvidia_cudnn_cu12", "jax-cuda12-plugin", "tensorflow-cpu",
                 "flash_attn", "pytorch-triton-rocm"):  # fmt: skip
        assert is_heavy(name, HEAVY_FAMILIES), name
    for name in ("torchmetrics", "numpy", "jaxtyping", "nvidiax", "alpha"):
        assert not is_heavy(name, HEAVY_FAMILIES), name
    assert is_heavy("my_lib", heavy_patterns(["My.Lib"]))


def test_the_heavy_dir_takes_only_the_heavy_wheels_of_a_wheelhouse(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("torch-2.5.1-cp311-none-any.whl", "alpha-1.0-py3-none-any.whl",
                 "torch_extra-1.0.tar.gz", "torch-2.5.1.tar.gz"):  # fmt: skip
        (wheels / name).write_bytes(b"x")
    (tmp_path / "lockfiles").mkdir()
    lock = tmp_path / "lockfiles" / "prod.txt"
    lock.write_text("--no-index\n--find-links ../wheels\n\ntorch==2.5.1 --hash=sha256:aa\n"
                    "alpha==1.0 --hash=sha256:bb\n")  # fmt: skip
    dest = tmp_path / "heavy"
    assert write_heavy_dir(dest, lock, HEAVY_FAMILIES) == ("torch",)
    assert sorted(p.name for p in (dest / "wheels").iterdir()) == [
        "torch-2.5.1-cp311-none-any.whl", "torch-2.5.1.tar.gz"]  # fmt: skip
    assert "--find-links ../wheels" in (dest / "lockfiles" / "heavy.txt").read_text()


def test_build_cache_keys_are_checked(tmp_path: Path) -> None:
    config = parse_config(
        "name: c\nbuild:\n  heavy: [mylib-*]\n  cache:\n"
        "    from: [127.0.0.1:5555/team/cache, registry.example.com/a/b:ci]\n"
        "    to: 127.0.0.1:5555/team/cache\n",
        root=tmp_path, path=None,
    )  # fmt: skip
    assert config.build.heavy == ("mylib-*",)
    assert config.build.cache.from_ == ("127.0.0.1:5555/team/cache", "registry.example.com/a/b:ci")
    assert config.build.cache.to == "127.0.0.1:5555/team/cache"
    for bad, words in (
        ("{to: 'https://r.example.com/x'}", "has a scheme"),
        ("{to: 'u:pw@r.example.com/x'}", "credentials"),
        ("{from: [r.example.com]}", "not a registry repository"),
        ("{from: ['r.example.com/x@sha256:" + "a" * 64 + "']}", "digest"),
    ):
        with pytest.raises(ConfigError, match=words):
            parse_config(f"name: c\nbuild: {{cache: {bad}}}\n", root=tmp_path, path=None)
    with pytest.raises(ConfigError, match="not a project name"):
        parse_config("name: c\nbuild: {heavy: ['a b']}\n", root=tmp_path, path=None)


def test_cache_arguments_for_each_cli(tmp_path: Path) -> None:
    cache = BuildCache(images=("r:5/c:prod-1", "r:5/c:prod-latest"), inline=True,
                       registry_from=("r:5/c:prod-buildcache",),
                       registry_to="r:5/c:prod-buildcache")  # fmt: skip
    spec = BuildSpec(context=tmp_path, builder="buildkit", platform="linux/amd64", cache=cache)
    assert cache_arguments(spec, buildx=False) == [
        "--cache-from", "r:5/c:prod-1", "--cache-from", "r:5/c:prod-latest",
        "--build-arg", "BUILDKIT_INLINE_CACHE=1",
    ]  # fmt: skip
    assert cache_arguments(spec, buildx=True) == [
        "--cache-from", "type=registry,ref=r:5/c:prod-1",
        "--cache-from", "type=registry,ref=r:5/c:prod-latest",
        "--cache-from", "type=registry,ref=r:5/c:prod-buildcache",
        "--cache-to", "type=registry,ref=r:5/c:prod-buildcache,mode=max",
        "--build-arg", "BUILDKIT_INLINE_CACHE=1",
    ]  # fmt: skip
    no_cache = BuildSpec(context=tmp_path, builder="buildkit", platform="linux/amd64",
                         cache=cache, no_cache=True)  # fmt: skip
    assert cache_arguments(no_cache, buildx=True) == []


# -- on the engine --

# gamma 0.5.0 needs beta>=1.0, which needs alpha>=1.0,<2: gamma is marked heavy by name, so
# the heavy part is installed with --no-deps and its dependencies come with the rest.
PINS = {"gamma": "0.5.0", "beta": "1.0.0", "alpha": "1.0.0"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    yield from serve(build_index(tmp_path_factory.mktemp("weightindex"), CATALOGUE))


def _project(root: Path, index: LocalIndex, name: str, *, wheels_all: bool,
             extra: str = "") -> Config:  # fmt: skip
    root.mkdir(parents=True)
    (root / "repro.yaml").write_text(
        f'name: {name}\npython: "3.11"\nbase_image: local/debian-python:bookworm\n'
        f"build:\n  heavy: [gamma]\n{extra}"
    )
    (root / "train.py").write_text("print('hi')\n")
    (root / "lockfiles").mkdir()
    _write_lock(root, index, PINS, wheels_all=wheels_all)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                       cwd=root, check=True, capture_output=True)  # fmt: skip
    return load_config(root, required=True)


def _write_lock(root: Path, index: LocalIndex, pins: dict[str, str], *, wheels_all: bool) -> None:
    text = _lock(index.url, index.root / "files", pins, wheels_all=wheels_all)
    (root / "lockfiles" / "prod.txt").write_text(text)


def _packages(client: Any, image: str) -> dict[str, str]:
    out = client.containers.run(image, ["python", "-m", "pip", "list", "--format=json"],
                                remove=True, network_disabled=True)  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(out.decode())}


def _pip_check(client: Any, image: str) -> str:
    out = client.containers.run(image, ["python", "-m", "pip", "check"], remove=True,
                                network_disabled=True)  # fmt: skip
    return str(out.decode())


@pytest.mark.engine
@pytest.mark.parametrize(("wheels_all", "builder"),
                         [(True, "legacy"), (False, "legacy"), (True, "buildkit")],
                         ids=["deps-only", "builder-stage", "deps-only-buildkit"])  # fmt: skip
def test_a_light_pin_change_rebuilds_only_the_light_layer(
    tmp_path: Path, index: LocalIndex, docker_engine: Any, docker_client: Any,
    base_image: str, wheels_all: bool, builder: str,
) -> None:  # fmt: skip
    if builder == "buildkit" and not buildkit_available():
        pytest.skip("no docker CLI here can drive BuildKit")
    name = f"weight-{uuid.uuid4().hex[:8]}"
    config = _project(tmp_path / "proj", index, name, wheels_all=wheels_all)
    made: list[str] = []
    try:
        first = build_variant(config, "prod", builder=builder, reuse=False, network="host",
                              engine=docker_engine)  # fmt: skip
        made.append(first.tags[0])
        assert any("heavy.txt" in step for step in first.rebuilt), first.rebuilt
        assert _packages(docker_client, first.id) | PINS == _packages(docker_client, first.id)

        _write_lock(config.root, index, {**PINS, "alpha": "1.1.0"}, wheels_all=wheels_all)
        events: list[BuildEvent] = []
        second = build_variant(config, "prod", builder=builder, network="host",
                               progress=events.append, engine=docker_engine)  # fmt: skip
        made.append(second.tags[0])
        cached = [e.text for e in events if e.kind == "cached"]
        # The heavy layer came from the cache (the builder's stdout says "Using cache")...
        assert any("heavy.txt" in text for text in cached), cached
        assert not [s for s in second.rebuilt if "heavy" in s], second.rebuilt
        # ...and the rest of the lock was installed again, with the new pin.
        assert any("prod.txt" in s for s in second.rebuilt), second.rebuilt
        packages = _packages(docker_client, second.id)
        assert packages["alpha"] == "1.1.0"
        assert packages["gamma"] == "0.5.0" and packages["beta"] == "1.0.0"
        assert "No broken requirements" in _pip_check(docker_client, second.id)
        # The heavy layers are the very same layers in both images.
        first_layers = docker_client.images.get(first.id).attrs["RootFS"]["Layers"]
        second_layers = docker_client.images.get(second.id).attrs["RootFS"]["Layers"]
        assert len([a for a, b in zip(first_layers, second_layers, strict=False) if a == b]) >= 2
    finally:
        for tag in (*made, f"localhost/repro-{name}:prod-latest"):
            # A tag shared by both builds goes with the first removal.
            with contextlib.suppress(Exception):
                docker_engine.remove_image(tag)


@pytest.mark.engine
def test_a_build_seeded_from_build_cache_reuses_the_pushed_layers(
    tmp_path: Path, index: LocalIndex, docker_engine: Any, docker_client: Any,
    base_image: str, registry: str,
) -> None:  # fmt: skip
    token = uuid.uuid4().hex[:8]
    repo = f"{registry}/tests/repro-cache-{token}"
    name = f"cache-{token}"
    cache = f"  cache:\n    from: [{repo}]\n    to: {repo}\n"
    config = _project(tmp_path / "proj", index, name, wheels_all=True, extra=cache)
    bare = dataclasses.replace(config, build=BuildConfig(heavy=("gamma",)))  # no build.cache

    def forget() -> None:
        """Remove this test's images (legacy builds: their layers are the whole cache)."""
        for ref in (f"localhost/repro-{name}:prod-latest", *cached_tags):
            if docker_engine.image(ref) is not None:
                docker_client.images.remove(ref, force=True)

    cached_tags: list[str] = []
    try:
        first = build_variant(config, "prod", builder="legacy", reuse=False, network="host",
                              engine=docker_engine)  # fmt: skip
        assert first.cache_pushed == (f"{repo}:{first.tags[0].rsplit(':', 1)[1]}",
                                      f"{repo}:prod-latest")  # fmt: skip
        cached_tags = [first.tags[0], *first.cache_pushed]
        forget()
        assert docker_engine.image(first.tags[0]) is None
        without = build_variant(bare, "prod", builder="legacy", reuse=False, network="host",
                                engine=docker_engine)  # fmt: skip
        assert without.cached == 0 and any("heavy.txt" in s for s in without.rebuilt)
        forget()
        seeded = build_variant(config, "prod", builder="legacy", reuse=False, network="host",
                               engine=docker_engine)  # fmt: skip
        # Every step came from the pushed image: nothing was installed again.
        assert seeded.rebuilt == () and seeded.cached == without.cached + len(without.rebuilt)
        assert seeded.content_hash == first.content_hash
    finally:
        forget()


def _registry_json(url: str, accept: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.mark.engine
def test_buildkit_pushes_its_cache_inline_and_reads_it_back(
    tmp_path: Path, index: LocalIndex, docker_engine: Any, docker_client: Any,
    base_image: str, registry: str,
) -> None:  # fmt: skip
    if not buildkit_available():
        pytest.skip("no docker CLI here can drive BuildKit")
    token = uuid.uuid4().hex[:8]
    path = f"tests/repro-inline-{token}"
    repo = f"{registry}/{path}"
    cache = f"  cache:\n    from: [{repo}]\n    to: {repo}\n"
    config = _project(tmp_path / "proj", index, f"inline-{token}", wheels_all=True, extra=cache)
    raw: list[str] = []
    original = BuildLog.buildkit

    def record(self: BuildLog, line: str) -> None:
        raw.append(line)
        original(self, line)

    name = f"localhost/repro-inline-{token}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(BuildLog, "buildkit", record)
            built = build_variant(config, "prod", builder="buildkit", reuse=False,
                                  network="host", engine=docker_engine)  # fmt: skip
        assert built.builder == "buildkit" and len(built.cache_pushed) == 2
        # The first build found no cache image yet and went on (BuildKit only warns).
        assert any(repo in line for line in raw), raw[:20]
        # The pushed image carries BuildKit's cache in its config: a new machine's
        # `--cache-from` reads it from there.
        manifest = _registry_json(
            f"http://{registry}/v2/{path}/manifests/prod-latest",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        digest = manifest["config"]["digest"]
        config_blob = _registry_json(f"http://{registry}/v2/{path}/blobs/{digest}", "*/*")
        assert "moby.buildkit.cache.v0" in config_blob
        # Pushed, then the push's tags removed: the engine keeps only the image's own names.
        assert all(docker_engine.image(ref) is None for ref in built.cache_pushed)
    finally:
        for image in docker_client.images.list(name=name):
            for tag in image.tags:
                with contextlib.suppress(Exception):
                    docker_client.images.remove(tag, force=True)
