"""`repro doctor` against real nvidia-smi outputs of old and new drivers (fake on PATH)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from paths import TESTS
from projects import make_repo
from reprostack.cli import cli

FAKE_BIN = TESTS / "fake_bin"
CASES = TESTS / "fixtures" / "nvidia-smi"


@pytest.fixture
def cuda_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "p", {"repro.yaml": 'name: gpu\ncuda: "12.4.1"\n'})
    monkeypatch.chdir(root)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    return root


def doctor(case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(CASES / case))
    result = CliRunner().invoke(cli, ["doctor"], catch_exceptions=False)
    return result.exit_code, result.output


def test_old_r470_driver_cannot_run_cuda_12(
    cuda_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = doctor("r470-gt1030", monkeypatch)
    assert code == 1
    assert (
        "error  CUDA 12.4 needs NVIDIA driver >= 525.60.13; this host has 470.74\n"
        "       fix: use cuda 11.8 in repro.yaml, or update the driver to >= 550.54.15"
    ) in output


def test_r555_with_two_l4_is_ok_for_the_gpu_stack(
    cuda_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = doctor("r555-2x-l4", monkeypatch)
    assert "ok     driver 555.42.06 supports CUDA 12.4" in output
    assert output.count("ok     NVIDIA L4 (sm 8.9) is supported by CUDA 12.4") == 2
    assert code == 1  # the engine is unreachable in this test
    assert "error  no Docker engine answers at unix://" in output


def test_r535_minor_version_compatibility_warns(
    cuda_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, output = doctor("r535-a100-sxm4-mig", monkeypatch)
    assert "warn   driver 535.54.03 runs CUDA 12.4 through minor-version compatibility" in output
    assert "fix: update the driver to >= 550.54.15 for full support" in output


def test_no_driver_is_a_warning_with_the_drivers_words(
    cuda_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, output = doctor("no-driver", monkeypatch)
    assert "warn   the image uses CUDA 12.4 but this host has no usable NVIDIA driver" in output
    assert "couldn't communicate with the NVIDIA driver" in output
