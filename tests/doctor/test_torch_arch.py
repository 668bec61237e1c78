"""`repro doctor`: the torch build's GPU architectures against each GPU's compute capability.

Arch lists are those of real torch builds (tests/fixtures/torch-arch/SOURCES.md); GPUs come
from real nvidia-smi outputs (tests/fixtures/nvidia-smi) read through the fake nvidia-smi.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from paths import TESTS
from projects import make_repo
from reprostack.cli import cli
from reprostack.doctor.torch_arch import (
    TorchBuild,
    check_torch_build,
    parse_arch,
    query_torch_build,
)
from reprostack.fingerprint.nvidia import probe_nvidia

HERE = TESTS
FAKE_BIN = HERE / "fake_bin"
CASES = HERE / "fixtures" / "nvidia-smi"
BUILDS = json.loads((HERE / "fixtures" / "torch-arch" / "builds.json").read_text())


def build(key: str) -> TorchBuild:
    entry = BUILDS[key]
    return TorchBuild(entry["version"], entry["cuda"], tuple(entry["arch_list"]))


def gpus(case: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    env = {"PATH": f"{FAKE_BIN}:{os.environ['PATH']}", "FAKE_NVIDIA_SMI_CASE": str(CASES / case)}
    probe = probe_nvidia(env)
    assert probe.info is not None, probe.problem
    found: list[dict[str, object]] = probe.info["gpus"]
    return found


def test_cu102_build_has_no_kernels_for_an_l4(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = check_torch_build(build("torch-1.12-cu102"), gpus("r555-2x-l4", monkeypatch))
    assert len(findings) == 2
    assert {f.level for f in findings} == {"error"}
    assert findings[0].message == (
        "torch 1.12.1+cu102 has no kernels for sm_89 (NVIDIA L4): it was built for "
        "sm_37 sm_50 sm_60 sm_70"
    )
    assert findings[0].fix == (
        "use a torch build made with CUDA 11.8 or newer (a +cu118 or later wheel)"
    )


def test_cu102_build_on_an_a100_says_cuda_11_0(monkeypatch: pytest.MonkeyPatch) -> None:
    (finding,) = check_torch_build(build("torch-1.12-cu102"),
                                   gpus("r535-a100-sxm4-mig", monkeypatch))  # fmt: skip
    assert finding.level == "error"
    assert "has no kernels for sm_80 (NVIDIA A100-SXM4-80GB)" in finding.message
    assert finding.fix is not None and "CUDA 11.0 or newer (a +cu110" in finding.fix


def test_sm_86_kernels_run_on_an_sm_89_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = check_torch_build(build("torch-1.9.0-cu111"), gpus("r555-2x-l4", monkeypatch))
    assert [f.level for f in findings] == ["ok", "ok"]
    assert findings[0].message == (
        "torch 1.9.0+cu111 runs NVIDIA L4 (sm_89) with its sm_86 kernels "
        "(same major: binary compatible)"
    )


def test_exact_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    (finding,) = check_torch_build(build("torch-2.x-cu124"),
                                   gpus("r535-a100-sxm4-mig", monkeypatch))  # fmt: skip
    assert (finding.level, finding.message) == (
        "ok", "torch 2.6.0+cu124 has kernels for NVIDIA A100-SXM4-80GB (sm_80)",
    )  # fmt: skip


def test_ptx_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    (finding,) = check_torch_build(build("windows-cu102-ptx"),
                                   gpus("r535-a100-sxm4-mig", monkeypatch))  # fmt: skip
    assert finding.level == "warn"
    assert "compiles its compute_37 PTX at first use" in finding.message


def test_a_build_that_skipped_the_gpus_major(monkeypatch: pytest.MonkeyPatch) -> None:
    # The GT 1030 of the R470 case reports no compute capability (old driver): use a GP108's.
    found = gpus("r470-gt1030", monkeypatch)
    assert found[0]["compute_capability"] in (None, "6.1")
    gt1030 = [{**found[0], "compute_capability": "6.1"}]
    (finding,) = check_torch_build(build("nightly-cu111-2021-03"), gt1030)
    assert finding.level == "error"
    assert finding.message.startswith("torch 1.9.0.dev20210302+cu111 has no kernels for sm_61")
    assert finding.fix == "use a torch build that lists sm_61 or an sm_6x below it"
    (old,) = check_torch_build(build("torch-2.x-cu124"), [{**gt1030[0], "compute_capability":
                                                            "3.5"}])  # fmt: skip
    assert old.fix is not None and old.fix.startswith("this build dropped sm_35")


def test_unknown_capability_and_cpu_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = [{"index": 0, "name": "NVIDIA GeForce GT 1030", "compute_capability": None}]
    (finding,) = check_torch_build(build("torch-2.x-cu124"), unknown)
    assert finding.level == "warn" and "compute capability unknown" in finding.message
    (cpu,) = check_torch_build(TorchBuild("2.13.0+cpu", None, ()), gpus("r555-2x-l4", monkeypatch))
    assert (cpu.level, cpu.message) == (
        "warn", "torch 2.13.0+cpu is a CPU-only build: the 2 GPU(s) here go unused",
    )  # fmt: skip
    assert check_torch_build(build("torch-2.x-cu124"), []) == []


def test_parse_arch() -> None:
    assert parse_arch("sm_86") == ("sm", (8, 6))
    assert parse_arch("sm_90a") == ("sm", (9, 0))
    assert parse_arch("sm_120") == ("sm", (12, 0))
    assert parse_arch("compute_37") == ("compute", (3, 7))
    assert parse_arch("gfx90a") is None


def test_query_asks_a_real_interpreter(tmp_path: Path) -> None:
    answer = query_torch_build(sys.executable)
    try:
        import torch
    except ImportError:
        assert isinstance(answer, str) and answer.startswith("importing torch failed")
    else:
        assert isinstance(answer, TorchBuild)
        assert answer.version == torch.__version__
        assert answer.cuda == torch.version.cuda
    missing = query_torch_build(str(tmp_path / "no-python"))
    assert isinstance(missing, str) and missing.startswith("cannot run")


def test_doctor_reports_the_installed_torch_against_the_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="LOUD SKIP: no torch in this venv to ask (pip install "
                        "torch, CPU is enough)")  # fmt: skip
    import torch

    root = make_repo(tmp_path / "p", {"repro.yaml": 'name: gpu\ncuda: "12.4.1"\n'})
    monkeypatch.chdir(root)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(CASES / "r555-2x-l4"))
    result = CliRunner().invoke(cli, ["doctor"], catch_exceptions=False)
    assert result.exit_code == 1  # no engine in this test
    if torch.version.cuda is None:
        assert (f"warn   torch {torch.__version__} is a CPU-only build: the 2 GPU(s) here go "
                "unused") in result.output  # fmt: skip
    else:
        assert f"torch {torch.__version__}" in result.output
