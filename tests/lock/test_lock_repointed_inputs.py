"""Inputs in unusual places: `cuda: auto` follows the lock of a repointed lock.inputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pkgindex import Dist, LocalIndex, build_index, serve
from reprostack.bases.resolve import resolve_bases
from reprostack.cli import cli
from reprostack.config import load_config


@pytest.fixture(scope="module")
def cuda_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    root = build_index(tmp_path_factory.mktemp("cu-index"), (Dist("torch", "2.1.0+cu121"),))
    yield from serve(root)


def test_cuda_auto_follows_the_cu121_torch_of_a_repointed_input(
    tmp_path: Path, cuda_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ray"
    root.mkdir()
    (root / "dl-gpu-requirements.txt").write_text(
        f"--index-url {cuda_index.url}\ntorch==2.1.0+cu121\n"
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    runner = CliRunner()
    init = runner.invoke(cli, ["init", "--inputs", "dl-gpu-requirements.txt"])
    assert init.exit_code == 0, init.output
    config = load_config(root)
    assert config.cuda == "auto" and config.lock.inputs == ("dl-gpu-requirements.txt",)
    locked = runner.invoke(cli, ["lock"])
    assert locked.exit_code == 0, locked.output
    choice = resolve_bases(config).choice
    assert (choice.kind, choice.cuda, choice.cuda_source) == ("cuda", "12.1", "torch")
    assert choice.runtime.startswith("nvidia/cuda:12.1.1-")
