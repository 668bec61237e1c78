"""`repro lock` with pip-tools inside the base image: a real container running real pip-compile.

The loopback index is reached with ``REPRO_LOCK_NETWORK=host`` (the product default is the
bridge) and pip-tools is installed from wheels repacked from this venv, not a public index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_lock_resolve import repro

from conftest import BASE_IMAGE
from pkgindex import LocalIndex, local_index, tool_caches, write_project
from reprostack.lock import read_lock_header
from reprostack.lock.base import Target
from reprostack.lock.header import split
from reprostack.lock.in_image import ROLE_LABEL
from toolwheels import tool_wheelhouse

__all__ = ["local_index", "tool_caches"]  # fixtures, imported so pytest finds them

UV_HINT = (
    "set `lock: {tool: uv}` in repro.yaml (uv resolves for any Python and platform without an "
    "engine)"
)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_wheelhouse(tmp_path_factory.mktemp("tool-wheels"))


@pytest.fixture
def in_image_env(monkeypatch: pytest.MonkeyPatch, wheelhouse: Path) -> None:
    monkeypatch.setenv("REPRO_LOCK_NETWORK", "host")
    monkeypatch.setenv("REPRO_LOCK_TOOL_WHEELS", str(wheelhouse))


def with_base(root: Path, base: str) -> None:
    with (root / "repro.yaml").open("a") as handle:
        handle.write(f"base_image: {base}\n")


@pytest.mark.engine
@pytest.mark.usefixtures("in_image_env", "base_image")
def test_in_image_lock_matches_the_host_lock(
    project: Path, local_index: LocalIndex, docker_client: Any
) -> None:
    write_project(project, tool="pip-tools", prod=f"--index-url {local_index.url}\ngamma[fast]\n")
    with_base(project, BASE_IMAGE)
    # The bundle builds would trust reaches pip in the container too (a read-only mount).
    with (project / "repro.yaml").open("a") as handle:
        handle.write("build:\n  host_ca_bundle: true\n")
    ours = {"label": f"{ROLE_LABEL}=lock"}
    # The engine is shared: what an earlier, killed session left is not this lock's doing.
    before = {c.id for c in docker_client.containers.list(all=True, filters=ours)}
    prod = project / "lockfiles/prod.txt"
    assert repro("lock", "--prod").exit_code == 0
    host_body = split(prod.read_text())[1]
    prod.unlink()

    result = repro("lock", "--prod", "--in-image")
    assert result.exit_code == 0, result.output
    header = read_lock_header(prod)
    assert header.tool.startswith("pip-tools ") and header.tool.endswith(f" (in {BASE_IMAGE})")
    assert result.stderr == (
        f"lockfiles/prod.txt: 4 packages resolved with {header.tool} for Python 3.11 on "
        "linux/amd64\n"
    )
    assert split(prod.read_text())[1] == host_body
    assert prod.stat().st_uid == os.getuid()
    assert {c.id for c in docker_client.containers.list(all=True, filters=ours)} == before
    # The header reads as any other: nothing is stale, nothing is resolved again.
    assert repro("lock", "--prod").stderr == "lockfiles/prod.txt is up to date\n"
    assert repro("lock", "--check", "--prod").exit_code == 0


@pytest.mark.engine
@pytest.mark.usefixtures("in_image_env", "base_image")
def test_a_python_the_base_lacks_is_named(project: Path, local_index: LocalIndex) -> None:
    # This host runs 3.11, so 3.12 goes to the image, whose Debian has only python3.11.
    write_project(project, tool="pip-tools", python="3.12",
                  prod=f"--index-url {local_index.url}\nalpha\n")  # fmt: skip
    with_base(project, BASE_IMAGE)
    result = repro("lock", "--prod")
    assert result.exit_code == 3
    assert result.stderr == (
        f"repro: error: the base image {BASE_IMAGE} has no python3.12, so pip-tools cannot "
        "resolve for that Python inside it\n"
        "hint: set base_image: to an image with that Python, or set `lock: {tool: uv}` in "
        "repro.yaml (uv resolves for any Python without running it)\n"
    )
    assert not (project / "lockfiles/prod.txt").exists()


@pytest.mark.engine
@pytest.mark.usefixtures("in_image_env", "docker_client")
def test_a_missing_base_is_never_pulled(project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool="pip-tools", prod=f"--index-url {local_index.url}\nalpha\n")
    with_base(project, "localhost/repro-no-such-base:1")
    result = repro("lock", "--in-image")
    assert result.exit_code == 3
    assert result.stderr == (
        "repro: error: pip-tools resolves inside the base image localhost/repro-no-such-base:1, "
        "which is not on this engine (repro never pulls implicitly)\n"
        "hint: run `docker pull localhost/repro-no-such-base:1`, or set `lock: {tool: uv}` in "
        "repro.yaml\n"
    )


@pytest.mark.parametrize(
    ("python", "platform", "flag"),
    [
        ("3.12", "linux/amd64", ()),
        ("3.11", "linux/arm64", ()),
        ("3.11", "linux/amd64", ("--in-image",)),
    ],
)
def test_without_an_engine_exit_3_with_the_uv_hint(
    python: str,
    platform: str,
    flag: tuple[str, ...],
    project: Path,
    local_index: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mismatch = Target(python, platform).host_mismatch()
    if not flag and mismatch is None:
        pytest.skip("this host matches the target")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-engine.sock")
    write_project(project, tool="pip-tools", python=python, platform=platform,
                  prod=f"--index-url {local_index.url}\nalpha\n")  # fmt: skip
    result = repro("lock", *flag)
    assert result.exit_code == 3
    lead = (
        "--in-image runs pip-tools"
        if flag
        else f"pip-tools resolves for the machine it runs on and {mismatch}, so it runs"
    )
    message, hint = result.stderr.splitlines()
    assert message == (
        f"repro: error: {lead} inside the base image python:{python}-bookworm, which needs a "
        f"Docker engine: no Docker engine answers at unix://{project}/no-engine.sock "
        "(DOCKER_HOST): the socket does not exist"
    )
    assert hint.startswith("hint: start Docker") and hint.endswith("; or " + UV_HINT)
    assert not (project / "lockfiles/prod.txt").exists()


@pytest.mark.parametrize("tool", ["uv", "poetry"])
def test_in_image_is_for_pip_tools_only(tool: str, project: Path) -> None:
    write_project(project, tool=tool, prod="alpha\n")
    result = repro("lock", "--in-image")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"repro: error: --in-image is for pip-tools; {tool} resolves")
