"""CUDA facts a project's lock implies: doctor and dockerfile see CUDA wheels, and two runtimes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprostack.bases.choose import choose_base, wheel_cuda
from reprostack.cli import cli
from reprostack.config import load_config
from reprostack.doctor.checks import check_cuda_sources, check_gpu_stack, expected_cuda
from reprostack.lock import header as lockheader

RUNTIME_12 = "nvidia-cuda-runtime-cu12==12.6.77"


def _project(root: Path, cuda: str, pins: list[str]) -> Path:
    root.mkdir()
    (root / "repro.yaml").write_text(f'name: demo\npython: "3.11"\ncuda: "{cuda}"\n')
    body = "".join(f"{pin} \\\n    --hash=sha256:{'0' * 64}\n" for pin in pins)
    head = lockheader.LockHeader(
        variant="prod", tool="hand 1", python="3.11", platform="linux/amd64", index_urls=(),
        inputs={}, inputs_sha256=hashlib.sha256(b"").hexdigest(),
        body_sha256=lockheader.body_sha256(body),
    )  # fmt: skip
    (root / "lockfiles").mkdir()
    (root / "lockfiles" / "prod.txt").write_text(lockheader.render(head, body))
    return root


def test_a_cuda_wheel_image_is_not_called_a_cpu_image(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path / "p", "auto", ["torch==2.7.1", RUNTIME_12]))
    assert expected_cuda(config, None) == "12.6"
    findings = check_gpu_stack(None, expected_cuda(config, None), None)
    assert findings[0].level == "warn"
    assert findings[0].message.startswith("the image uses CUDA 12.6 but this host has no usable")


def test_a_cuda_base_under_cuda_wheels_is_flagged_by_doctor_and_dockerfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path / "p", "12.4.1", ["torch==2.7.1", RUNTIME_12])
    config = load_config(root)
    [finding] = check_cuda_sources(config)
    assert finding.level == "warn"
    assert finding.message == (
        "the image would carry two CUDA runtimes: CUDA 12.4 from the base "
        "nvidia/cuda:12.4.1-runtime-ubuntu22.04 and CUDA 12.6 from pip wheels "
        f"({RUNTIME_12})"
    )
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["dockerfile"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warning: the image would carry two CUDA runtimes" in result.output
    # cuda: auto takes the wheels' CUDA on the plain base: one runtime, no warning.
    auto = load_config(_project(tmp_path / "q", "auto", ["torch==2.7.1", RUNTIME_12]))
    assert check_cuda_sources(auto) == []


def test_cuda_13_runtime_wheel_gives_the_exact_version() -> None:
    pins = {"torch": "2.9.1", "nvidia-cuda-runtime": "13.2.86", "nvidia-nvshmem-cu13": "3.3.2"}
    assert wheel_cuda(pins) == "13.2"
    config = load_config(Path("/nonexistent"))
    assert choose_base(config.__class__(root=config.root, name="x", cuda="auto"), pins).cuda \
        == "13.2"  # fmt: skip


@pytest.mark.parametrize("cuda", ["auto", "none"])
def test_a_base_image_override_with_cuda_wheels_is_not_a_cpu_image(
    tmp_path: Path, cuda: str
) -> None:
    """With `base_image:` the base choice knows no CUDA, but the lock's CUDA wheels are what
    the image carries and what the code loads: doctor checks the driver against them."""
    root = _project(tmp_path / "p", cuda, ["torch==2.7.1", RUNTIME_12])
    with (root / "repro.yaml").open("a") as config_file:
        config_file.write("base_image: python:3.11-slim-bookworm\n")
    config = load_config(root)
    assert expected_cuda(config, None) == "12.6"
    [finding] = check_gpu_stack(None, expected_cuda(config, None), None)
    assert finding.level == "warn"
    assert finding.message.startswith("the image uses CUDA 12.6 but this host has no usable")
    # The image's own fingerprint, when there is one, is the truth.
    assert expected_cuda(config, {"cuda": {"runtime_version": "12.8"}}) == "12.8"
    # Without CUDA wheels such an image is a CPU image.
    plain = load_config(_project(tmp_path / "q", cuda, ["numpy==2.2.0"]))
    assert expected_cuda(plain, None) is None


def test_a_run_says_what_replay_says_of_the_driver() -> None:
    """The warning replay gives about the host's driver, the original run gives too."""
    from reprostack.doctor.checks import run_gpu_warnings

    no_driver = {"cuda": {"runtime_version": "12.6"}, "nvidia": None}
    [finding] = run_gpu_warnings(no_driver)
    assert finding.level == "warn"
    assert finding.message.startswith("the image uses CUDA 12.6 but this host has no usable")
    assert run_gpu_warnings({"cuda": None, "nvidia": None}) == []  # a CPU run: nothing
    old_driver = {
        "cuda": {"runtime_version": "12.6"},
        "nvidia": {"driver_version": "470.82.01", "cuda_driver_version": "11.4", "gpus": []},
    }
    assert [f.level for f in run_gpu_warnings(old_driver)] == ["error"]
