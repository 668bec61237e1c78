"""CUDA runtime and cuDNN versions, read from package metadata and files only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprostack.fingerprint.cuda import read_cuda, torch_cuda_tag

WHEELS = {
    "torch": "2.4.1",
    "nvidia-cuda-runtime-cu12": "12.4.127",
    "nvidia-cudnn-cu12": "9.1.0.70",
}
# The shape of /usr/local/cuda/version.json since CUDA 11.1 (trimmed to the keys read).
VERSION_JSON = {
    "cuda": {"name": "CUDA SDK", "version": "11.8.0"},
    "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": "11.8.89"},
    "cuda_nvcc": {"name": "CUDA NVCC", "version": "11.8.89"},
}
CUDNN_H = """/* cudnn_version.h */
#ifndef CUDNN_VERSION_H_
#define CUDNN_VERSION_H_

#define CUDNN_MAJOR 8
#define CUDNN_MINOR 9
#define CUDNN_PATCHLEVEL 7

#define CUDNN_VERSION (CUDNN_MAJOR * 1000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)
#endif
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _torch_site(base: Path, cuda_line: str) -> Path:
    _write(
        base / "torch" / "version.py",
        "from typing import Optional\n\n"
        "__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n"
        "__version__ = '2.4.1'\ndebug = False\n"
        f"{cuda_line}\ngit_version = 'ee1b6804381c57161c477caa380a840a84167676'\n"
        "hip: Optional[str] = None\n",
    )
    return base


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.4.1+cu124", "12.4"),
        ("2.0.1+cu118", "11.8"),
        ("1.7.1+cu92", "9.2"),
        ("1.13.1+cu117", "11.7"),
        ("2.9.0+cu130", "13.0"),
        ("2.4.1+cpu", None),
        ("2.4.1", None),
        ("", None),
        ("2.3.0+rocm6.0", None),
        ("2.0.0+nv23.05", None),
        ("2.1.0a0+git32f93b1", None),
    ],
)
def test_torch_cuda_tag(version: str, expected: str | None) -> None:
    assert torch_cuda_tag(version) == expected


@given(st.integers(min_value=7, max_value=19), st.integers(min_value=0, max_value=9))
def test_torch_cuda_tag_reads_every_major_minor(major: int, minor: int) -> None:
    assert torch_cuda_tag(f"2.4.1+cu{major}{minor}") == f"{major}.{minor}"


@given(st.text())
def test_torch_cuda_tag_never_raises(version: str) -> None:
    tag = torch_cuda_tag(version)
    assert tag is None or tag.count(".") == 1


def test_wheels_are_what_torch_loads(tmp_path: Path) -> None:
    site = _torch_site(tmp_path / "site", "cuda: Optional[str] = '12.4'")
    _write(tmp_path / "root/usr/local/cuda/version.json", json.dumps(VERSION_JSON))
    _write(tmp_path / "root/usr/include/cudnn_version.h", CUDNN_H)
    env = {"CUDA_VERSION": "12.6.3", "NV_CUDNN_VERSION": "9.5.1.17-1"}
    found = read_cuda(WHEELS, env, root=tmp_path / "root", site_dirs=[site])
    assert found == {
        "runtime_version": "12.4.127",
        "cudnn_version": "9.1.0.70",
        "nccl_version": None,
    }


def test_torch_built_for_another_cuda_beats_a_stray_wheel(tmp_path: Path) -> None:
    site = _torch_site(tmp_path / "site", "cuda = '11.8'")
    packages = {"torch": "2.1.0+cu118", "nvidia-cuda-runtime-cu12": "12.4.127"}
    found = read_cuda(packages, {}, root=tmp_path, site_dirs=[site])
    assert found == {"runtime_version": "11.8", "cudnn_version": None, "nccl_version": None}


def test_wheel_matching_torchs_major_wins_over_another_major(tmp_path: Path) -> None:
    packages = {
        "torch": "2.0.1+cu118",
        "nvidia-cuda-runtime-cu11": "11.8.89",
        "nvidia-cuda-runtime-cu12": "12.4.127",
    }
    found = read_cuda(packages, {}, root=tmp_path, site_dirs=[])
    assert found == {"runtime_version": "11.8.89", "cudnn_version": None, "nccl_version": None}


def test_torch_tag_when_version_py_is_not_found(tmp_path: Path) -> None:
    found = read_cuda({"torch": "2.4.1+cu124"}, {}, root=tmp_path, site_dirs=[tmp_path])
    assert found == {"runtime_version": "12.4", "cudnn_version": None, "nccl_version": None}


def test_first_torch_on_the_path_decides(tmp_path: Path) -> None:
    cpu = _torch_site(tmp_path / "a", "cuda: Optional[str] = None")
    gpu = _torch_site(tmp_path / "b", 'cuda: Optional[str] = "12.1"')
    _write(tmp_path / "root/usr/local/cuda/version.txt", "CUDA Version 10.2.89\n")
    # A CPU build first on the path loads no CUDA of its own: the system toolkit is next.
    found = read_cuda({"torch": "2.4.1+cu124"}, {}, root=tmp_path / "root", site_dirs=[cpu, gpu])
    assert found == {"runtime_version": "10.2.89", "cudnn_version": None, "nccl_version": None}
    found = read_cuda({}, {}, root=tmp_path / "root", site_dirs=[gpu, cpu])
    assert found == {"runtime_version": "12.1", "cudnn_version": None, "nccl_version": None}


def test_version_json_prefers_the_cudart_component(tmp_path: Path) -> None:
    _write(tmp_path / "usr/local/cuda/version.json", json.dumps(VERSION_JSON))
    found = read_cuda({"torch": "2.4.1+cpu"}, {}, root=tmp_path, site_dirs=[])
    assert found == {"runtime_version": "11.8.89", "cudnn_version": None, "nccl_version": None}


def test_version_json_without_cudart_gives_the_sdk(tmp_path: Path) -> None:
    _write(tmp_path / "usr/local/cuda/version.json", json.dumps({"cuda": VERSION_JSON["cuda"]}))
    assert read_cuda({}, {}, root=tmp_path, site_dirs=[]) == {
        "runtime_version": "11.8.0",
        "cudnn_version": None,
        "nccl_version": None,
    }


def test_broken_version_json_falls_back_to_version_txt(tmp_path: Path) -> None:
    _write(tmp_path / "usr/local/cuda/version.json", "{not json")
    _write(tmp_path / "usr/local/cuda/version.txt", "CUDA Version 10.2.89\n")
    assert read_cuda({}, {}, root=tmp_path, site_dirs=[]) == {
        "runtime_version": "10.2.89",
        "cudnn_version": None,
        "nccl_version": None,
    }


def test_system_files_beat_the_environment(tmp_path: Path) -> None:
    _write(tmp_path / "usr/local/cuda/version.json", json.dumps(VERSION_JSON))
    _write(tmp_path / "usr/include/x86_64-linux-gnu/cudnn_version_v8.h", CUDNN_H)
    env = {"CUDA_VERSION": "12.4.1", "NV_CUDNN_VERSION": "9.1.0.70-1"}
    assert read_cuda({}, env, root=tmp_path, site_dirs=[]) == {
        "runtime_version": "11.8.89",
        "cudnn_version": "8.9.7",
        "nccl_version": None,
    }


def test_toolkit_cudnn_header(tmp_path: Path) -> None:
    _write(tmp_path / "usr/local/cuda/include/cudnn_version.h", CUDNN_H)
    assert read_cuda({}, {}, root=tmp_path, site_dirs=[]) == {
        "runtime_version": None,
        "cudnn_version": "8.9.7",
        "nccl_version": None,
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CUDA_VERSION": "12.4.1", "NV_CUDNN_VERSION": "9.1.0.70-1"}, ("12.4.1", "9.1.0.70")),
        ({"CUDA_VERSION": "11.0.3", "CUDNN_VERSION": "8.0.5.39"}, ("11.0.3", "8.0.5.39")),
        ({"CUDA_VERSION": "12.2.2"}, ("12.2.2", None)),
        ({"CUDA_VERSION": "", "NV_CUDNN_VERSION": "none"}, None),
    ],
)
def test_environment_of_nvidia_cuda_images(
    tmp_path: Path, env: dict[str, str], expected: tuple[str, str | None] | None
) -> None:
    found = read_cuda({}, env, root=tmp_path, site_dirs=[])
    if expected is None:
        assert found is None
    else:
        assert found == {
            "runtime_version": expected[0],
            "cudnn_version": expected[1],
            "nccl_version": None,
        }


def test_nothing_found_is_none(tmp_path: Path) -> None:
    assert (
        read_cuda({"torch": "2.4.1+cpu", "numpy": "2.1.0"}, {}, root=tmp_path, site_dirs=[]) is None
    )
    assert read_cuda({"torch": "2.4.1+cpu"}, {}, root=tmp_path, site_dirs=[]) is None


def test_header_without_minor_is_ignored(tmp_path: Path) -> None:
    _write(tmp_path / "usr/include/cudnn_version.h", "#define CUDNN_MAJOR 9\n")
    assert read_cuda({}, {}, root=tmp_path, site_dirs=[]) is None
