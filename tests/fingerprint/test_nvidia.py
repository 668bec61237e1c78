"""nvidia-smi parsing on outputs captured on real machines, and the probe end to end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paths import TESTS
from reprostack.fingerprint.nvidia import (
    NOT_FOUND,
    NvidiaProbe,
    merge_compute_caps,
    parse_compute_caps,
    parse_nvidia_xml,
    probe_nvidia,
    read_nvidia,
)

FAKE_BIN = TESTS / "fake_bin"
CASES = TESTS / "fixtures" / "nvidia-smi"
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)

EXPECTED: dict[str, dict[str, Any]] = {
    "r535-a100-sxm4-mig": {
        "driver_version": "535.54.03",
        "cuda_driver_version": "12.2",
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA A100-SXM4-80GB",
                "uuid": "GPU-513536b6-7d19-9063-b049-1e69664bb298",
                "memory_total_mib": 81920,
                "compute_capability": "8.0",
                "mig_mode": "Enabled",
            }
        ],
    },
    "r555-2x-l4": {
        "driver_version": "555.42.06",
        "cuda_driver_version": "12.5",
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA L4",
                "uuid": "GPU-c5533cd4-5a60-059e-348d-b6d7466932e4",
                "memory_total_mib": 23034,
                "compute_capability": "8.9",
                "mig_mode": None,
            },
            {
                "index": 1,
                "name": "NVIDIA L4",
                "uuid": "GPU-128ab6fb-6ec9-fd74-b479-4a5fd14f55bd",
                "memory_total_mib": 23034,
                "compute_capability": "8.9",
                "mig_mode": None,
            },
        ],
    },
    "r470-gt1030": {
        "driver_version": "470.74",
        "cuda_driver_version": "11.4",
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA GeForce GT 1030",
                "uuid": "GPU-857c6374-f681-cf3a-f99f-9063a87b8ac0",
                "memory_total_mib": 1998,
                "compute_capability": None,
                "mig_mode": None,
            }
        ],
    },
}


def _fake_env(case: Path) -> dict[str, str]:
    return {"PATH": str(FAKE_BIN), "FAKE_NVIDIA_SMI_CASE": str(case)}


def _without_caps(info: dict[str, Any]) -> dict[str, Any]:
    return {**info, "gpus": [{**g, "compute_capability": None} for g in info["gpus"]]}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_captured_outputs_parse_to_the_full_expected_info(case: str) -> None:
    xml = (CASES / case / "query-xml.out").read_text()
    caps = parse_compute_caps((CASES / case / "compute-cap.out").read_text())
    assert parse_nvidia_xml(xml) == _without_caps(EXPECTED[case])
    assert merge_compute_caps(parse_nvidia_xml(xml) or {}, caps) == EXPECTED[case]


def test_old_driver_rejecting_compute_cap_yields_no_rows() -> None:
    text = (CASES / "r470-gt1030" / "compute-cap.out").read_text()
    assert text.startswith('Field "compute_cap" is not a valid field to query.')
    assert parse_compute_caps(text) == []


def test_mig_devices_are_not_counted_as_gpus() -> None:
    xml = (CASES / "r535-a100-sxm4-mig" / "query-xml.out").read_text()
    assert xml.count("<mig_device>") == 4
    info = parse_nvidia_xml(xml)
    assert info is not None and len(info["gpus"]) == 1
    # The MIG slices' 19968 MiB must not shadow the GPU's own memory.
    assert info["gpus"][0]["memory_total_mib"] == 81920


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_probe_runs_the_fake_end_to_end(case: str) -> None:
    assert probe_nvidia(_fake_env(CASES / case)) == NvidiaProbe(EXPECTED[case], None)


def test_probe_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(CASES / "r555-2x-l4"))
    assert read_nvidia() == EXPECTED["r555-2x-l4"]


def test_not_on_path(tmp_path: Path) -> None:
    assert probe_nvidia({"PATH": str(tmp_path)}) == NvidiaProbe(None, NOT_FOUND)
    assert NOT_FOUND == "nvidia-smi not found on PATH"
    assert read_nvidia({"PATH": str(tmp_path)}) is None


def test_failing_driver_reports_the_tools_own_words() -> None:
    probe = probe_nvidia(_fake_env(CASES / "no-driver"))
    assert probe == NvidiaProbe(None, NO_DRIVER)


def test_timeout_gives_a_problem_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "sleep").write_text("30\n")
    probe = probe_nvidia(_fake_env(tmp_path), timeout=0.5)
    assert probe == NvidiaProbe(None, "nvidia-smi did not answer within 0.5 s")


def test_garbage_output_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "query-xml.out").write_text("Segmentation fault\n")
    (tmp_path / "compute-cap.out").write_text("0, GPU-x, 8.0\n")
    probe = probe_nvidia(_fake_env(tmp_path))
    assert probe == NvidiaProbe(None, "nvidia-smi -q -x did not print an nvidia_smi_log document")


def test_silent_failure_names_the_exit_status(tmp_path: Path) -> None:
    (tmp_path / "default.exit").write_text("15\n")
    assert probe_nvidia(_fake_env(tmp_path)) == NvidiaProbe(
        None, "nvidia-smi exited with status 15"
    )


def test_failed_compute_cap_query_keeps_the_rest(tmp_path: Path) -> None:
    xml = (CASES / "r555-2x-l4" / "query-xml.out").read_text()
    (tmp_path / "query-xml.out").write_text(xml)
    (tmp_path / "compute-cap.out").write_text("Unable to determine the device handle\n")
    (tmp_path / "compute-cap.exit").write_text("15\n")
    probe = probe_nvidia(_fake_env(tmp_path))
    assert probe == NvidiaProbe(_without_caps(EXPECTED["r555-2x-l4"]), None)


PLACEHOLDERS = """<?xml version="1.0" ?>
<nvidia_smi_log>
  <driver_version>390.157</driver_version>
  <gpu id="00000000:01:00.0">
    <product_name>GeForce 410M</product_name>
    <uuid>[N/A]</uuid>
    <fb_memory_usage><total>[Not Supported]</total></fb_memory_usage>
    <mig_mode><current_mig>[N/A]</current_mig></mig_mode>
  </gpu>
  <gpu>
    <product_name> Tesla K80 </product_name>
    <uuid>GPU-k80</uuid>
    <fb_memory_usage><total>11441 MiB</total></fb_memory_usage>
    <mig_mode><current_mig>Disabled</current_mig></mig_mode>
  </gpu>
</nvidia_smi_log>
"""


def test_placeholders_and_missing_fields_become_none() -> None:
    # Shaped like an R390 document: no <cuda_version> at all, bracketed placeholders.
    assert parse_nvidia_xml(PLACEHOLDERS) == {
        "driver_version": "390.157",
        "cuda_driver_version": None,
        "gpus": [
            {
                "index": 0,
                "name": "GeForce 410M",
                "uuid": "",
                "memory_total_mib": None,
                "compute_capability": None,
                "mig_mode": None,
            },
            {
                "index": 1,
                "name": "Tesla K80",
                "uuid": "GPU-k80",
                "memory_total_mib": 11441,
                "compute_capability": None,
                "mig_mode": "Disabled",
            },
        ],
    }


def test_capabilities_join_on_uuid_then_index() -> None:
    info = parse_nvidia_xml(PLACEHOLDERS)
    assert info is not None
    caps = parse_compute_caps("1, GPU-k80, 3.7\n0, [N/A], 2.1\n2, GPU-gone, [N/A]\n")
    assert caps == [(1, "GPU-k80", "3.7"), (0, "[N/A]", "2.1")]
    merged = merge_compute_caps(info, caps)
    assert [g["compute_capability"] for g in merged["gpus"]] == ["2.1", "3.7"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not xml",
        "<nvidia_smi_log><gpu/></nvidia_smi_log>",  # no driver version
        "<other><driver_version>550.54.15</driver_version></other>",
        "<nvidia_smi_log><driver_version>N/A</driver_version></nvidia_smi_log>",
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]>'
        "<nvidia_smi_log><driver_version>&a;</driver_version></nvidia_smi_log>",
    ],
)
def test_unusable_documents_give_none(text: str) -> None:
    assert parse_nvidia_xml(text) is None


def test_cuda_version_not_found_is_none() -> None:
    text = (
        "<nvidia_smi_log><driver_version>530.30.02</driver_version>"
        "<cuda_version>Not Found</cuda_version><attached_gpus>0</attached_gpus></nvidia_smi_log>"
    )
    assert parse_nvidia_xml(text) == {
        "driver_version": "530.30.02",
        "cuda_driver_version": None,
        "gpus": [],
    }


TAGS = st.sampled_from(
    ["nvidia_smi_log", "gpu", "driver_version", "cuda_version", "uuid", "product_name",
     "fb_memory_usage", "total", "mig_mode", "current_mig", "mig_devices", "mig_device"]
)  # fmt: skip
TEXTS = st.one_of(st.sampled_from(["N/A", "[N/A]", "81920 MiB", "Enabled", "12.4", ""]), st.text())


@st.composite
def xmlish(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(TAGS)
    if depth > 3 or draw(st.booleans()):
        body = draw(TEXTS).replace("<", "").replace("&", "")
    else:
        body = "".join(draw(st.lists(xmlish(depth + 1), max_size=3)))
    return f"<{tag}>{body}</{tag}>"


@settings(max_examples=300)
@given(st.text())
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    parse_nvidia_xml(text)
    for index, uuid, cap in parse_compute_caps(text):
        assert index is None or index >= 0
        assert isinstance(uuid, str) and "." in cap


@settings(max_examples=300)
@given(xmlish())
def test_parser_never_raises_on_xmlish_input(text: str) -> None:
    info = parse_nvidia_xml(text)
    if info is not None:
        assert isinstance(info["driver_version"], str)
        assert [g["index"] for g in info["gpus"]] == list(range(len(info["gpus"])))


@given(st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=7))
def test_gpu_count_ignores_mig_devices(gpus: int, migs: int) -> None:
    mig = "<mig_device><index>0</index><fb_memory_usage><total>9 MiB</total></fb_memory_usage>"
    gpu = f"<gpu><mig_devices>{(mig + '</mig_device>') * migs}</mig_devices></gpu>"
    text = f"<nvidia_smi_log><driver_version>550.1</driver_version>{gpu * gpus}</nvidia_smi_log>"
    info = parse_nvidia_xml(text)
    assert info is not None and len(info["gpus"]) == gpus
    assert all(g["memory_total_mib"] is None for g in info["gpus"])
