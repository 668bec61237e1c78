"""Driver/CUDA/GPU compatibility rules against NVIDIA's published numbers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reprostack.doctor.compat import (
    MAJOR_MINIMUM,
    RELEASE_DRIVER,
    check_compute_capability,
    check_driver,
    newest_cuda_for_driver,
    version_tuple,
)  # fmt: skip


def test_old_driver_for_cuda_12_is_an_error_with_a_plain_fix() -> None:
    finding = check_driver("470.182.03", "12.4")
    assert finding.level == "error"
    assert finding.message == "CUDA 12.4 needs NVIDIA driver >= 525.60.13; this host has 470.182.03"
    assert finding.fix == "use cuda 11.8 in repro.yaml, or update the driver to >= 550.54.15"


def test_minor_version_compatibility_is_a_warning() -> None:
    finding = check_driver("535.104.05", "12.4.127")
    assert finding.level == "warn"
    assert "minor-version compatibility" in finding.message


def test_matching_driver_is_ok() -> None:
    assert check_driver("550.54.15", "12.4").level == "ok"
    assert check_driver("555.42.06", "12.5").level == "ok"
    assert check_driver("470.74", "11.4").level == "warn"  # 11.4 shipped with 470.82.01
    assert check_driver("580.65.06", "13.0").level == "ok"
    assert check_driver("575.57.08", "13.0").level == "error"


def test_compute_capability() -> None:
    assert check_compute_capability("NVIDIA H200", "9.0", "11.7").level == "error"
    assert check_compute_capability("NVIDIA H200", "9.0", "12.4").level == "ok"
    assert check_compute_capability("Tesla V100", "7.0", "13.0").level == "error"
    assert check_compute_capability("NVIDIA B200", "10.0", "12.6").fix == (
        "use cuda 12.8 or newer (and a matching torch build)"
    )


def test_tables_are_consistent() -> None:
    for cuda, driver in RELEASE_DRIVER.items():
        if cuda == "11.0":
            continue  # before minor-version compatibility existed
        major = int(cuda.split(".")[0])
        assert version_tuple(driver) >= version_tuple(MAJOR_MINIMUM[major]), cuda
    releases = sorted(RELEASE_DRIVER, key=version_tuple)
    drivers = [version_tuple(RELEASE_DRIVER[c]) for c in releases]
    assert drivers == sorted(drivers)  # newer CUDA never shipped with an older driver


@given(st.sampled_from(sorted(RELEASE_DRIVER)))
def test_a_release_runs_on_its_own_driver(cuda: str) -> None:
    assert check_driver(RELEASE_DRIVER[cuda], cuda).level == "ok"
    newest = newest_cuda_for_driver(RELEASE_DRIVER[cuda])
    assert newest is not None and version_tuple(newest) >= version_tuple(cuda)
    assert newest.split(".")[0] == cuda.split(".")[0] or cuda == "11.0"
