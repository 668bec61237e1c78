"""The orchestration of ``build_image`` (pin → plan → context → build → tag) on the fake engine.

What the real engine does with a build is proven by tests/image/test_image_build.py; here the steps
around it are checked in milliseconds, including the failures an engine cannot be made to show.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from paths import TESTS
from projects import build_variant
from reprostack.bases import resolve as resolve_module
from reprostack.bases.pins import PINS_NAME, read_pins
from reprostack.bases.resolve import resolve_bases
from reprostack.config import Config, load_config
from reprostack.engine import (
    Completed,
    ContainerSpec,
    DiskUsage,
    EngineRefused,
    EngineUnavailable,
)
from reprostack.errors import CheckFailed, EnvironmentMissing
from reprostack.image import build as build_module
from reprostack.image import verify
from reprostack.image.build import BuildFailed, BuildRequest, build_image
from reprostack.image.tags import LABEL_PREFIX

CASES = TESTS / "image_cases"
BASE = "local/debian-python:bookworm"


def _case(tmp_path: Path) -> Config:
    root = tmp_path / "scripts"
    shutil.copytree(CASES / "scripts", root)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "case"]):
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip
    return load_config(root, required=True)


def _engine_with_base(kind: type[FakeEngine] = FakeEngine) -> FakeEngine:
    engine = kind()
    engine.add_image(BASE, architecture="amd64")
    return engine


def test_a_local_base_is_pinned_by_id_then_built_tagged_and_reused(tmp_path: Path) -> None:
    config = _case(tmp_path)
    engine = _engine_with_base()
    base = engine.image(BASE)
    assert base is not None

    built = build_variant(config, "prod", builder="legacy", engine=engine)

    pins = read_pins(config.root / "lockfiles" / PINS_NAME)
    assert pins[BASE].image_id == base.id and pins[BASE].digest is None
    assert [spec.builder for spec in engine.builds] == ["legacy"]
    spec = engine.builds[0]
    assert spec.platform == config.platform and spec.name == built.tags[0]
    assert spec.labels[LABEL_PREFIX + "content-sha256"] == built.content_hash
    assert not spec.secrets
    for tag in built.tags:
        found = engine.image(tag)
        assert found is not None and found.id == built.id
    # The same inputs again: nothing is built, the tags stay where they are.
    again = build_variant(config, "prod", engine=engine)
    assert again.reused and again.id == built.id
    assert len(engine.builds) == 1
    # Asked not to reuse: built again, with BuildKit when the engine offers it.
    build_variant(config, "prod", reuse=False, engine=engine)
    assert [spec.builder for spec in engine.builds] == ["legacy", "buildkit"]


def test_a_build_uses_the_bases_it_is_given_and_never_resolves_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _case(tmp_path)
    engine = _engine_with_base()
    bases = resolve_bases(config, engine=engine)
    with pytest.raises(TypeError):
        BuildRequest(config, "prod")  # type: ignore[call-arg]

    def again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bases were resolved a second time")

    monkeypatch.setattr(resolve_module, "resolve_bases", again)
    monkeypatch.setattr(build_module, "resolve_bases", again)
    built = build_image(BuildRequest(config, "prod", bases, builder="legacy"), engine=engine)
    assert built.plan.bases is bases
    assert [spec.builder for spec in engine.builds] == ["legacy"]


def test_a_builder_error_becomes_build_failed_naming_the_image(tmp_path: Path) -> None:
    config = _case(tmp_path)
    engine = _engine_with_base()
    engine.fail_build = "The command '/bin/sh -c pip install' returned a non-zero code: 1"
    with pytest.raises(BuildFailed) as caught:
        build_variant(config, "prod", builder="legacy", engine=engine)
    assert caught.value.exit_code == 1
    assert "returned a non-zero code: 1" in caught.value.message
    assert "building localhost/repro-case-scripts:prod-" in caught.value.message
    assert engine.image("localhost/repro-case-scripts:prod-latest") is None


def test_a_missing_base_that_cannot_be_pulled_is_exit_3(tmp_path: Path) -> None:
    config = _case(tmp_path)
    with pytest.raises(EnvironmentMissing) as caught:
        resolve_bases(config, engine=FakeEngine())
    assert caught.value.exit_code == 3
    assert f"base image {BASE} is not on this engine and pulling {BASE} failed" in (
        caught.value.message
    )
    assert not (config.root / "lockfiles" / PINS_NAME).exists()


def test_a_replaced_local_base_stops_the_build(tmp_path: Path) -> None:
    config = _case(tmp_path)
    engine = _engine_with_base()
    resolve_bases(config, engine=engine)
    engine.images.clear()
    engine.refs.clear()
    engine.add_image(BASE + "-other", architecture="amd64")
    engine.refs[BASE] = engine.refs[BASE + "-other"]
    with pytest.raises(CheckFailed) as caught:
        build_variant(config, "prod", engine=engine)
    assert "changed: pinned" in caught.value.message
    assert engine.builds == []


def test_an_override_base_is_probed_for_its_python_once(tmp_path: Path) -> None:
    config = _case(tmp_path)
    probes: list[ContainerSpec] = []

    def answer(spec: ContainerSpec) -> Completed:
        probes.append(spec)
        return Completed(0, b"Python 3.11.2\n", b"")

    engine = _engine_with_base()
    engine.handler = answer
    pins = resolve_bases(config, engine=engine).pins
    assert pins[BASE].python == "3.11.2" and pins[BASE].probed
    assert len(probes) == 1
    assert probes[0].network == "none" and probes[0].entrypoint == ("/bin/sh", "-c")
    resolve_bases(config, engine=engine)
    assert len(probes) == 1  # the probe result is kept in the lock


class _EngineThatKeepsImages(FakeEngine):
    """An engine that does not answer a removal in time (a multi-GB image on a slow disk)."""

    def remove_image(self, ref: str) -> None:
        raise EngineUnavailable(f"lost the engine while removing image {ref[:19]}: timed out")


def test_a_verify_whose_images_the_engine_keeps_still_gives_its_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine = _case(tmp_path), _engine_with_base(_EngineThatKeepsImages)
    files = {"/app/train.py": ("file", 0o644, 0, 0, "ab" * 32)}
    monkeypatch.setattr(verify, "filesystem_facts", lambda engine, image_id: files)

    result = verify.verify_build(
        config, bases=resolve_bases(config, engine=engine), engine=engine, builder="legacy"
    )

    assert result.reproducible and result.files == 1
    assert [image_id for image_id, _ in result.left] == [result.first, result.second]
    assert all("timed out" in why for _, why in result.left)


def test_a_verify_that_fails_reports_its_own_failure_not_the_cleanups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine = _case(tmp_path), _engine_with_base(_EngineThatKeepsImages)

    def export_refused(engine: object, image_id: str) -> dict[str, object]:
        raise EngineRefused("no space left on device")

    monkeypatch.setattr(verify, "filesystem_facts", export_refused)
    with pytest.raises(EngineRefused, match="no space left"):
        verify.verify_build(
            config, bases=resolve_bases(config, engine=engine), engine=engine, builder="legacy"
        )


class _EngineWithABusyBuild(FakeEngine):
    """A BuildKit engine on which another build holds a cache record of its own."""

    def disk_usage(self) -> DiskUsage:
        usage = super().disk_usage()
        return replace(usage, cache_in_use=frozenset({"busy"}) & set(usage.build_cache))


@pytest.mark.parametrize("outcome", ["verdict", "failure"])
def test_a_verify_removes_the_cache_it_made_and_nothing_else(
    outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine = _case(tmp_path), _engine_with_base(_EngineWithABusyBuild)
    engine.build_cache.update({"old": 5 << 30, "older": 1 << 30})  # from earlier builds
    files = {"/app/train.py": ("file", 0o644, 0, 0, "ab" * 32)}

    def facts(engine: FakeEngine, image_id: str) -> dict[str, object]:
        engine.build_cache["busy"] = 1  # another build starts while the images are compared
        if outcome == "failure":
            raise EngineRefused("no space left on device")
        return files  # type: ignore[return-value]

    monkeypatch.setattr(verify, "filesystem_facts", facts)
    bases = resolve_bases(config, engine=engine)
    images_before = set(engine.images)
    if outcome == "failure":
        with pytest.raises(EngineRefused):
            verify.verify_build(config, bases=bases, engine=engine, builder="buildkit")
    else:
        result = verify.verify_build(config, bases=bases, engine=engine, builder="buildkit")
        assert result.reproducible and result.cache_left is None and result.left == []
    assert len(engine.builds) == 2  # each made a cache record
    assert engine.build_cache == {"old": 5 << 30, "older": 1 << 30, "busy": 1}
    assert set(engine.images) == images_before
