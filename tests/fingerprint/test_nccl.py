"""NCCL's version in the fingerprint: from wheel metadata, the library file, nccl.h, the env."""

from __future__ import annotations

from pathlib import Path

from reprostack.fingerprint.cuda import read_cuda
from reprostack.fingerprint.python_env import read_packages

# The METADATA head of the wheel torch 2.5.1 (PyPI, linux x86_64) requires
# (`Requires-Dist: nvidia-nccl-cu12==2.21.5; platform_system == "Linux" and ...`).
NCCL_METADATA = """\
Metadata-Version: 2.1
Name: nvidia-nccl-cu12
Version: 2.21.5
Summary: NVIDIA Collective Communication Library (NCCL) Runtime
Home-page: https://developer.nvidia.com/cuda-zone
Author: Nvidia CUDA Installer Team
Author-email: cuda_installer@nvidia.com
License: NVIDIA Proprietary Software
Keywords: cuda,nvidia,runtime,machine learning,deep learning
Requires-Python: >=3
"""
# The version block of nccl.h as libnccl-dev 2.21.5-1+cuda12.4 installs it.
NCCL_H = """\
#ifndef NCCL_H_
#define NCCL_H_

#include <cuda_runtime.h>
#include <cuda_fp16.h>

#define NCCL_MAJOR 2
#define NCCL_MINOR 21
#define NCCL_PATCH 5
#define NCCL_SUFFIX ""

#define NCCL_VERSION_CODE 22105
#define NCCL_VERSION(X,Y,Z) (((X) <= 2 && (Y) <= 8) ? (X) * 1000 + (Y) * 100 + (Z) : \\
                             (X) * 10000 + (Y) * 100 + (Z))
"""


def _dist_info(site: Path, name: str, version: str, metadata: str) -> None:
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(metadata)


def test_the_wheel_torch_loads_is_read_from_its_metadata(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist_info(site, "nvidia-nccl-cu12", "2.21.5", NCCL_METADATA)
    _dist_info(site, "torch", "2.5.1", "Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1\n")
    # A system NCCL too (nvidia/cuda devel images ship one): the wheel is what torch loads.
    lib = tmp_path / "root/usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libnccl.so.2.19.3").write_bytes(b"\x7fELF")
    packages = read_packages([str(site)])
    assert packages["nvidia-nccl-cu12"] == "2.21.5"
    found = read_cuda(packages, {}, root=tmp_path / "root", site_dirs=[site])
    assert found is not None
    assert found["nccl_version"] == "2.21.5"


def test_wheel_matching_torchs_cuda_major_wins(tmp_path: Path) -> None:
    packages = {"torch": "2.0.1+cu118", "nvidia-nccl-cu11": "2.14.3", "nvidia-nccl-cu12": "2.21.5"}
    found = read_cuda(packages, {}, root=tmp_path, site_dirs=[])
    assert found is not None
    assert found["nccl_version"] == "2.14.3"


def test_library_file_of_the_system(tmp_path: Path) -> None:
    lib = tmp_path / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    # What libnccl2 installs: the versioned file and the soname link to it.
    (lib / "libnccl.so.2.21.5").write_bytes(b"\x7fELF")
    (lib / "libnccl.so.2").symlink_to("libnccl.so.2.21.5")
    (lib / "libnccl.so.2.18.1").write_bytes(b"\x7fELF")  # an older one left behind
    assert read_cuda({}, {"NCCL_VERSION": "2.17.1-1"}, root=tmp_path, site_dirs=[]) == {
        "runtime_version": None,
        "cudnn_version": None,
        "nccl_version": "2.21.5",
    }


def test_header_then_environment(tmp_path: Path) -> None:
    (tmp_path / "usr/include").mkdir(parents=True)
    (tmp_path / "usr/include/nccl.h").write_text(NCCL_H)
    env = {"NCCL_VERSION": "2.17.1-1", "CUDA_VERSION": "12.4.1"}
    found = read_cuda({}, env, root=tmp_path, site_dirs=[])
    assert found == {"runtime_version": "12.4.1", "cudnn_version": None, "nccl_version": "2.21.5"}
    (tmp_path / "usr/include/nccl.h").unlink()
    # nvidia/cuda runtime images set NCCL_VERSION=2.21.5-1 beside CUDA_VERSION.
    found = read_cuda({}, {"NCCL_VERSION": "2.21.5-1"}, root=tmp_path, site_dirs=[])
    assert found == {"runtime_version": None, "cudnn_version": None, "nccl_version": "2.21.5"}


def test_statically_linked_nccl_is_not_guessed(tmp_path: Path) -> None:
    # torch 1.13.1+cu117 links NCCL into libtorch_cuda.so: nothing says which, so None.
    found = read_cuda({"torch": "1.13.1+cu117"}, {}, root=tmp_path, site_dirs=[])
    assert found == {"runtime_version": "11.7", "cudnn_version": None, "nccl_version": None}
