"""Whether every pin of a lock has a wheel for the image (the `wheels` line of its header)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pkgindex import Dist, build_index, build_wheel, serve
from reprostack.lock.base import Target
from reprostack.lock.wheels import supported_tags, wheel_fits, wheel_summary

TARGET = Target("3.11", "linux/amd64")


def _pin(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"{name}=={version} \\\n    --hash=sha256:{digest}\n"


def test_the_target_accepts_manylinux_and_pure_wheels_only() -> None:
    tags = supported_tags(TARGET)
    assert wheel_fits(
        "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", tags
    )
    assert wheel_fits("torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl", tags)
    assert wheel_fits("six-1.16.0-py2.py3-none-any.whl", tags)
    assert not wheel_fits("numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl", tags)
    assert not wheel_fits("numpy-2.1.0-cp311-cp311-manylinux_2_17_aarch64.whl", tags)
    assert not wheel_fits("numpy-2.1.0-cp311-cp311-win_amd64.whl", tags)


def test_an_index_without_a_fitting_wheel_names_the_pin(tmp_path: Path) -> None:
    dists = (Dist("pure", "1.0.0"), Dist("winonly", "1.0.0", tag="cp311-cp311-win_amd64"))
    root = build_index(tmp_path / "index", dists)
    wheels = sorted((root / "files").glob("*.whl"))
    for index in serve(root):
        body = f"--index-url {index.url}\n\n" + "".join(_pin(w) for w in wheels)
        assert wheel_summary(body, TARGET, tmp_path) == "missing: winonly"
        only_pure = f"--index-url {index.url}\n\n" + _pin(wheels[0])
        assert wheel_summary(only_pure, TARGET, tmp_path) == "all"


def test_a_project_wheelhouse_is_read_from_disk(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    wheel = build_wheel(Dist("alpha", "1.0.0"), tmp_path / "wheels")
    (tmp_path / "lockfiles").mkdir()
    body = "--no-index\n--find-links ../wheels\n\n" + _pin(wheel)
    assert wheel_summary(body, TARGET, tmp_path / "lockfiles") == "all"


def test_an_index_that_cannot_be_read_says_nothing(tmp_path: Path) -> None:
    wheel = build_wheel(Dist("alpha", "1.0.0"), tmp_path)
    body = "--index-url http://127.0.0.1:9/simple\n\n" + _pin(wheel)
    # Unknown: the image keeps its builder stage, which is always correct.
    assert wheel_summary(body, TARGET, tmp_path) == ""
