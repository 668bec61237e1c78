"""`repro fingerprint`: the host's table and JSON, the fake driver, and an image's facts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from paths import TESTS
from projects import demo_project
from reprostack.cli import cli

FAKE_BIN = TESTS / "fake_bin"
CASES = TESTS / "fixtures" / "nvidia-smi"
STABLE_KEYS = {
    "schema_version", "git", "python", "packages", "lockfiles", "os", "hardware", "nvidia",
    "cuda", "container", "env",
}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo_project(tmp_path / "p")
    (root / "lockfiles").mkdir()
    (root / "lockfiles" / "prod.txt").write_text("click==8.1.7\n")
    monkeypatch.chdir(root)
    return root


def fingerprint_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["fingerprint", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_json_has_every_stable_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.environ["PATH"].replace(str(FAKE_BIN), ""))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    data = fingerprint_json()
    assert set(data) == STABLE_KEYS
    assert data["schema_version"] == 1
    assert data["packages"]["click"]
    assert data["lockfiles"] == {
        "lockfiles/prod.txt": hashlib.sha256(b"click==8.1.7\n").hexdigest()
    }
    assert data["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert "GITHUB_TOKEN" not in data["env"]
    assert data["env"]["OMP_NUM_THREADS"] == "1"  # repro.yaml env: is the allow-list's too
    assert data["container"] is None
    assert data["git"]["branch"] == "main"


def test_fake_driver_with_two_gpus(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(CASES / "r555-2x-l4"))
    data = fingerprint_json()
    assert data["nvidia"]["driver_version"] == "555.42.06"
    assert data["nvidia"]["cuda_driver_version"] == "12.5"
    assert [gpu["name"] for gpu in data["nvidia"]["gpus"]] == ["NVIDIA L4", "NVIDIA L4"]
    table = CliRunner().invoke(cli, ["fingerprint"], catch_exceptions=False).output
    assert "nvidia driver" in table and "555.42.06 (supports CUDA 12.5)" in table
    assert "gpu 1" in table


def test_failing_driver_is_null_not_a_crash(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(CASES / "no-driver"))
    assert fingerprint_json()["nvidia"] is None


@pytest.mark.engine
def test_image_fingerprint_merges_container_facts(project: Path, base_image: str) -> None:
    data = fingerprint_json("--image", base_image)
    assert set(data) == STABLE_KEYS
    assert data["container"]["image_id"].startswith("sha256:")
    assert data["python"]["executable"] == "/usr/bin/python3"
    assert data["os"]["distro"] == "Debian GNU/Linux 12 (bookworm)"
    assert "click" not in data["packages"]  # the image's packages, not the host's
    # The image's own facts, never this checkout's: the base image has no repro labels, so
    # no code and no locks are claimed, and its environment is its own.
    assert data["git"] is None and data["lockfiles"] == {}
    assert data["env"] == {"LANG": "C.UTF-8"}  # what the base image sets, not this shell


def test_image_fingerprint_of_a_foreign_image_has_no_project_data(
    project: Path, base_image: str, tmp_path: Path
) -> None:
    """The datasets of repro.yaml are this project's; an image that is not one of its
    images says nothing about them."""
    data_dir = tmp_path / "pets"
    data_dir.mkdir()
    (data_dir / "a.txt").write_text("a")
    with (project / "repro.yaml").open("a") as config_file:
        config_file.write(f"data:\n  pets: {{path: {data_dir}}}\n")
    assert "data" in fingerprint_json()  # the host's fingerprint does name it
    assert "data" not in fingerprint_json("--image", base_image)


@pytest.mark.engine
def test_missing_image_is_never_pulled(project: Path, docker_client: Any) -> None:
    result = CliRunner().invoke(cli, ["fingerprint", "--image", "localhost/repro-nope:none"])
    assert result.exit_code == 2
    assert "is not on this engine (repro never pulls implicitly)" in result.output


def test_which_images_are_the_projects(project: Path) -> None:
    from reprostack.config import load_config
    from reprostack.engine import ImageInfo
    from reprostack.image.fingerprint import is_project_image

    config = load_config(project)  # name: demo
    mine = ["localhost/repro-demo:prod-abc", "reg:5000/team/repro-demo:dev-latest"]
    assert all(is_project_image(config, ImageInfo("sha256:1", tags=(tag,))) for tag in mine)
    pushed = ImageInfo("sha256:1", repo_digests=("reg:5000/repro-demo@sha256:" + "a" * 64,))
    assert is_project_image(config, pushed)
    others = ["local/debian-python:bookworm", "localhost/repro-demo2:prod-x", "repro-de:mo"]
    assert not any(is_project_image(config, ImageInfo("sha256:1", tags=(t,))) for t in others)
