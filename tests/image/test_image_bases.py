"""Base choice: the shipped tag table, the torch → CUDA mapping, cuda: auto, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reprostack.bases.choose import choose_base, load_table, valid_cuda_tags, wheel_cuda
from reprostack.bases.pins import BasePin
from reprostack.config import parse_config
from reprostack.engine import ImageRef
from reprostack.errors import ConfigError
from reprostack.fingerprint.cuda import torch_cuda_tag


def _config(text: str):  # type: ignore[no-untyped-def]
    return parse_config(f"name: t\n{text}", root=Path("/x"), path=None)


def test_the_tag_table_is_consistent() -> None:
    table = load_table("cuda_images")
    torch = load_table("torch_cuda")
    releases = table["releases"]
    for release, entry in releases.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", release)
        assert entry["os"] and set(entry["os"]) <= set(table["os_python"])
        for major, part in entry["cudnn"].items():
            assert part in ("cudnn", f"cudnn{major}")
    # Every CUDA torch is known to use has a release, and that release is in the table.
    used = set(torch["pypi_default"].values())
    for builds in torch["index_builds"].values():
        used |= set(builds)
    assert used <= set(torch["cuda_release"])
    for minor, release in torch["cuda_release"].items():
        assert release in releases and release.startswith(minor + ".")
    tags = valid_cuda_tags()
    assert len(tags) == len(set(tags))
    assert "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04" in tags
    assert "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04" in tags


def test_every_index_build_tag_parses_to_a_known_cuda() -> None:
    release = load_table("torch_cuda")["cuda_release"]
    for minor in release:
        digits = minor.replace(".", "")
        assert torch_cuda_tag(f"2.5.1+cu{digits}") == minor


def test_cpu_base_is_the_official_python_image() -> None:
    base = choose_base(_config('python: "3.12"\ncuda: none\n'))
    assert (base.builder, base.runtime) == ("python:3.12-bookworm", "python:3.12-slim-bookworm")
    assert base.python_install == "present" and base.cuda is None


def test_cuda_base_installs_python_from_the_distro_or_deadsnakes() -> None:
    same = choose_base(_config('python: "3.10"\ncuda: "12.4"\nos: ubuntu22.04\n'))
    assert same.runtime == "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    assert same.python_install == "distro" and same.cuda == "12.4"
    other = choose_base(_config('python: "3.11"\ncuda: "12.4.1"\ncudnn: "9"\n'))
    assert other.builder == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    assert other.python_install == "deadsnakes"


def test_an_unknown_combination_lists_the_nearest_valid_bases() -> None:
    with pytest.raises(ConfigError) as info:
        choose_base(_config('cuda: "11.8"\ncudnn: "8"\nos: ubuntu24.04\n'))
    assert "no 11.8.0 image for ubuntu24.04" in info.value.message
    assert info.value.hint is not None
    assert "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04" in info.value.hint
    with pytest.raises(ConfigError) as info:
        choose_base(_config('cuda: "12.7.0"\n'))
    assert "12.6.3" in (info.value.hint or "") and "12.8.1" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="no cuDNN 8"):
        choose_base(_config('cuda: "12.8.1"\ncudnn: "8"\n'))


def test_auto_follows_a_cuda_tagged_torch_pin() -> None:
    base = choose_base(_config("cuda: auto\n"), {"torch": "2.4.1+cu118"})
    assert base.runtime == "nvidia/cuda:11.8.0-runtime-ubuntu22.04"
    assert (base.cuda, base.cuda_source) == ("11.8", "torch")


def test_auto_with_cuda_wheels_uses_a_plain_base_and_records_their_cuda() -> None:
    pins = {"torch": "2.6.0", "nvidia-cuda-runtime-cu12": "12.4.127", "nvidia-cudnn-cu12": "9.1"}
    base = choose_base(_config("cuda: auto\n"), pins)
    assert base.kind == "cpu" and "nvidia" not in base.runtime
    assert (base.cuda, base.cuda_source) == ("12.4", "wheels")
    assert wheel_cuda({"torch": "2.7.0", "nvidia-cublas-cu12": "12.6.4.1"}) == "12.6"
    assert wheel_cuda({"torch": "2.5.1+cpu"}) is None
    cpu = choose_base(_config("cuda: auto\n"), {"numpy": "2.0.0"})
    assert cpu.kind == "cpu" and cpu.cuda is None


def test_auto_without_a_lock_says_to_lock_first() -> None:
    with pytest.raises(ConfigError, match=r"lockfiles/prod\.txt"):
        choose_base(_config("cuda: auto\n"))


def test_override_base_skips_python_only_when_found() -> None:
    config = _config('python: "3.11"\nbase_image: my/base:1\n')
    assert choose_base(config).python_install == "present"
    assert choose_base(config, None, {"my/base:1": "3.11.2"}).python_install == "present"
    assert choose_base(config, None, {"my/base:1": None}).python_install == "distro"
    assert choose_base(config, None, {"my/base:1": "3.12.1"}).python_install == "distro"


def test_digest_pins_name_the_base_in_from() -> None:
    pin = BasePin("python:3.11-slim-bookworm", digest="sha256:" + "a" * 64)
    assert pin.from_ref == "python:3.11-slim-bookworm@sha256:" + "a" * 64
    digests = ["python@sha256:" + "a" * 64, "other/x@sha256:" + "b" * 64]
    assert ImageRef.parse("python:3.11-slim-bookworm").digest_among(digests) == "sha256:" + "a" * 64
    assert ImageRef.parse("docker.io/other/x:1").digest_among(digests) == "sha256:" + "b" * 64
    assert ImageRef.parse("local/debian-python:bookworm").digest_among([]) is None
