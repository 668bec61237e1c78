"""Locks resolve for the base image's glibc: a manylinux_2_31 wheel is fine on bookworm (2.36)."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pkgindex import Dist, LocalIndex, build_index, serve
from reprostack.bases.glibc import DEFAULT_GLIBC, base_glibc, config_glibc, glibc_of_ref
from reprostack.cli import cli
from reprostack.config import load_config
from reprostack.lock import read_lock_header
from reprostack.lock.base import Target
from reprostack.lock.uv import uv_platform
from reprostack.lock.wheels import supported_tags, wheel_fits
from reprostack.versions import version_tuple


def host_glibc() -> tuple[int, ...]:
    found = platform.libc_ver()
    return version_tuple(found[1]) if found[0] == "glibc" else (0,)


# Like rerun-sdk<=0.22.1: a wheel for glibc 2.31 and newer, nothing older, no sdist.
_NEW_GLIBC = "cp311-cp311-manylinux_2_31_x86_64"


@pytest.fixture(scope="module")
def glibc_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    root = build_index(tmp_path_factory.mktemp("glibc-index"),
                       (Dist("rerunlike", "0.22.1", tag=_NEW_GLIBC),))  # fmt: skip
    yield from serve(root)


def _project(root: Path, index: LocalIndex, extra: str = "", tool: str = "uv") -> Path:
    root.mkdir()
    (root / "repro.yaml").write_text(
        f'name: demo\npython: "3.11"\nplatform: linux/amd64\nlock: {{tool: {tool}}}\n{extra}'
    )
    (root / "requirements.in").write_text(f"--index-url {index.url}\nrerunlike\n")
    return root


def _lock(root: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.chdir(root)
    monkeypatch.setenv("UV_CACHE_DIR", str(root.parent / "uv-cache"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(root.parent / "pip-cache"))
    return CliRunner().invoke(cli, ["lock", "--prod"])


@pytest.mark.parametrize("tool", ["uv", "pip-tools"])
def test_a_manylinux_2_31_wheel_resolves_for_a_bookworm_base(
    tool: str, tmp_path: Path, glibc_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tool == "pip-tools" and host_glibc() < (2, 31):
        pytest.skip("pip-tools resolves on this host, whose glibc is older than 2.31")
    root = _project(tmp_path / "proj", glibc_index, "cuda: none\n", tool)
    result = _lock(root, monkeypatch)
    assert result.exit_code == 0, result.output
    header = read_lock_header(root / "lockfiles/prod.txt")
    assert header.glibc == "2.36"
    assert "# glibc: 2.36" in (root / "lockfiles/prod.txt").read_text()
    # The image can load the wheel: no builder stage is needed for it.
    assert header.wheels == "all"


@pytest.mark.parametrize("tool", ["uv", "pip-tools"])
def test_a_base_older_than_the_wheel_is_unsatisfiable(
    tool: str, tmp_path: Path, glibc_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # debian:buster has glibc 2.28: the image could not load the wheel, so it is not locked,
    # whatever this host's glibc is.
    root = _project(tmp_path / "proj", glibc_index, "base_image: debian:buster\n", tool)
    result = _lock(root, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "rerunlike" in result.output


def test_the_glibc_of_each_known_base() -> None:
    assert glibc_of_ref("python:3.11-slim-bookworm") == "2.36"
    assert glibc_of_ref("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04") == "2.35"
    assert glibc_of_ref("nvidia/cuda:12.8.1-runtime-ubuntu24.04") == "2.39"
    assert glibc_of_ref("ubuntu:24.04") == "2.39"
    assert glibc_of_ref("debian:bookworm-slim") == "2.36"
    assert glibc_of_ref("registry.example:5000/team/base:v3") is None


def test_the_glibc_of_a_config(tmp_path: Path) -> None:
    def config(text: str) -> object:
        (tmp_path / "repro.yaml").write_text(f'name: demo\npython: "3.11"\n{text}')
        return load_config(tmp_path)

    assert config_glibc(config("cuda: none\n")).version == "2.36"  # type: ignore[arg-type,union-attr]
    cuda = config_glibc(config('cuda: "12.4.1"\nos: ubuntu22.04\n'))  # type: ignore[arg-type]
    assert cuda is not None and (cuda.version, cuda.source) == ("2.35", "ubuntu22.04")
    noble = config_glibc(config('cuda: "12.8.1"\nos: ubuntu24.04\n'))  # type: ignore[arg-type]
    assert noble is not None and noble.version == "2.39"
    # auto may end on the Python image (bookworm, 2.36) or the CUDA base: the older one.
    auto = config_glibc(config("cuda: auto\nos: ubuntu24.04\n"))  # type: ignore[arg-type]
    assert auto is not None and auto.version == "2.36"


def test_an_unknown_base_takes_the_default_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    (tmp_path / "repro.yaml").write_text(
        'name: demo\npython: "3.11"\nbase_image: registry.example/team/base:v3\n'
    )
    found = base_glibc(load_config(tmp_path))
    assert found.version == DEFAULT_GLIBC
    assert found.warning is not None and "registry.example/team/base:v3" in found.warning


def test_uv_gets_the_manylinux_target_of_the_glibc() -> None:
    assert uv_platform(Target("3.11", "linux/amd64", "2.36")) == "x86_64-manylinux_2_36"
    assert uv_platform(Target("3.11", "linux/arm64", "2.35")) == "aarch64-manylinux_2_35"
    # Between uv's targets: the lower one, which the image can always load.
    assert uv_platform(Target("3.11", "linux/amd64", "2.30")) == "x86_64-manylinux_2_28"
    assert uv_platform(Target("3.11", "linux/amd64", "2.41")) == "x86_64-manylinux_2_40"
    assert uv_platform(Target("3.11", "linux/amd64")) == "x86_64-unknown-linux-gnu"


def test_the_wheel_summary_follows_the_glibc() -> None:
    wheel = f"rerunlike-0.22.1-{_NEW_GLIBC}.whl"
    assert wheel_fits(wheel, supported_tags(Target("3.11", "linux/amd64", "2.36")))
    assert not wheel_fits(wheel, supported_tags(Target("3.11", "linux/amd64", "2.28")))


def test_an_unknown_base_is_probed_in_the_engine(base_image_ref: str, tmp_path: Path) -> None:
    from reprostack.bases.glibc import probe_glibc

    # The local bookworm base, as a base_image this module cannot name from its reference.
    assert probe_glibc(base_image_ref) == "2.36"
    (tmp_path / "repro.yaml").write_text(
        f'name: demo\npython: "3.11"\nbase_image: {base_image_ref}\n'
    )
    assert base_glibc(load_config(tmp_path)).version == "2.36"
    # Nothing is pulled for a probe: an image the engine lacks is not known.
    assert probe_glibc("localhost/not-here/base:never") is None


def test_lock_warns_when_the_glibc_of_the_base_cannot_be_told(
    tmp_path: Path, glibc_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    root = _project(tmp_path / "proj", glibc_index, "base_image: registry.example/team/b:v3\n")
    result = _lock(root, monkeypatch)
    # The conservative default (2.28) cannot load the 2.31 wheel, and the user is told why.
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        "warning: the glibc of registry.example/team/b:v3 is not known (and could not be probed "
        f"in a local engine): resolving for glibc {DEFAULT_GLIBC}"
    ), result.output


def test_check_never_probes_and_a_changed_base_glibc_makes_the_lock_stale(
    tmp_path: Path, glibc_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path / "proj", glibc_index, "cuda: none\n")
    assert _lock(root, monkeypatch).exit_code == 0
    assert CliRunner().invoke(cli, ["lock", "--check", "--prod"]).exit_code == 0
    # The same project on an Ubuntu 24.04 CUDA base: glibc 2.39, the lock is stale.
    (root / "repro.yaml").write_text(
        (root / "repro.yaml").read_text().replace("cuda: none", 'cuda: "12.8.1"\nos: ubuntu24.04')
    )
    check = CliRunner().invoke(cli, ["lock", "--check", "--prod"])
    assert check.exit_code == 1, check.output
    assert "the base's glibc changed: 2.36 -> 2.39" in check.output
