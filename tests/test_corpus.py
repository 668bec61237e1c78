"""Real projects' dependency files (tests/corpus/) through init → lock → lock --check → dockerfile.

Offline, each resolves against the loopback index of tests/corpus_index.py, reached the way
a user with a mirror reaches theirs: a requirements file holding ``--index-url`` listed
before the project's own inputs (a Poetry project names it as its primary source). The
adopted inputs, the pins, the chosen base and CUDA are asserted; dinov2's extra indexes
cannot be reached from here, and the exact error is asserted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from corpus_index import CORPUS, CUDA_RUNTIME, CUDA_RUNTIME_VERSION, corpus_index
from pkgindex import LocalIndex, tool_caches
from reprostack.cli import cli
from reprostack.cli.output import handle_errors
from reprostack.lock.header import split
from reprostack.locktext import parse_pins

__all__ = ["corpus_index", "tool_caches"]  # fixtures, imported so pytest finds them


CPU_BASE = "python:3.11-slim-bookworm"


@dataclass(frozen=True)
class Case:
    """What one project must come out as."""

    adopted: str  # the line `repro init` prints
    tool: str
    cuda: str  # repro.yaml's cuda: as init chose it
    pins: dict[str, str]  # a selection of prod pins
    base: str  # FROM of the deps stage
    wheel_cuda: str | None = None  # CUDA the image gets from wheels
    dev_pins: dict[str, str] = field(default_factory=dict)
    extras: tuple[str, ...] = ()  # lock.extras set after init
    groups: tuple[str, ...] = ()  # lock.groups set after init


CASES = {
    "whisper": Case(
        "adopted requirements.txt: requirements.txt, locked with uv",
        "uv",
        "auto",
        {
            "torch": "2.9.1",
            "triton": "2.0.0",
            "numba": "1.0.0",
            "pytest": "8.1.1",
            CUDA_RUNTIME: CUDA_RUNTIME_VERSION,
        },
        CPU_BASE,
        wheel_cuda="12.4",
    ),
    "pytorch-examples-mnist": Case(
        "adopted requirements.txt: requirements.txt, locked with uv",
        "uv",
        "auto",
        {"torch": "2.9.1", "six": "1.0.0", "tqdm": "5"},
        CPU_BASE,
        wheel_cuda="12.4",
    ),
    "yolov5": Case(
        "adopted requirements.txt: requirements.txt, locked with uv",
        "uv",
        "auto",
        {
            "torch": "2.9.1",
            "torchvision": "0.16.0",
            "ultralytics": "8.2.64",
            "urllib3": "2.5.0",
            "pillow": "10.3.0",
        },
        CPU_BASE,
        wheel_cuda="12.4",
    ),
    "audiocraft": Case(
        "adopted requirements.txt: requirements.txt, locked with uv",
        "uv",
        "auto",
        {"torch": "2.1.0", "torchaudio": "2.0.0", "numpy": "1.23.5", "xformers": "0.0.18"},
        CPU_BASE,
        wheel_cuda="12.4",
    ),
    "litgpt": Case(
        "adopted pyproject.toml: PEP 621 [project] dependencies, locked with uv",
        "uv",
        "auto",
        {"torch": "2.9.1", "jsonargparse": "4.41", "psutil": "7", "pytest": "8.1.1"},
        CPU_BASE,
        wheel_cuda="12.4",
        extras=("test",),
    ),
    "nanochat": Case(
        "adopted pyproject.toml: a uv project, locked with uv",
        "uv",
        "auto",
        {"torch": "2.9.1", "regex": "2025.9.1", "pyright": "1.1.0"},
        CPU_BASE,
        wheel_cuda="12.4",
        groups=("dev",),
    ),
    "transformerlens": Case(
        "adopted pyproject.toml: a Poetry project, locked with poetry",
        "poetry",
        "auto",
        {"torch": "1.10", "numpy": "1.23.5", "einops": "0.6.0"},
        CPU_BASE,
        dev_pins={"pytest": "7.2.0", "mypy": "0.991"},
    ),
}


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def _entry(ctx: click.Context) -> None:
    """`repro` as the entry point runs it: library errors become a message and an exit code."""
    with handle_errors():
        cli.main(args=list(ctx.args), prog_name="repro", standalone_mode=False)


def _repro(*args: str) -> Result:
    return CliRunner().invoke(_entry, list(args), catch_exceptions=False)


def _adopt(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Copy a corpus project to ``root``, run `repro init` there; return its output."""
    shutil.copytree(CORPUS / name, root)
    monkeypatch.chdir(root)
    result = _repro("init")
    assert result.exit_code == 0, result.output
    return result.output


def _use_index(root: Path, url: str, case: Case) -> None:
    """Send the project's resolution to the loopback index (and choose extras/groups)."""
    config = yaml.safe_load((root / "repro.yaml").read_text())
    if case.tool == "poetry":
        with (root / "pyproject.toml").open("a") as handle:
            handle.write(f'\n[[tool.poetry.source]]\nname = "local"\nurl = "{url}"\n'
                         'priority = "primary"\n')  # fmt: skip
    else:
        (root / "index.in").write_text(f"--index-url {url}\n")
        config["lock"]["inputs"] = ["index.in", *config["lock"]["inputs"]]
    if case.extras:
        config["lock"]["extras"] = list(case.extras)
    if case.groups:
        config["lock"]["groups"] = list(case.groups)
    (root / "repro.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _pins(path: Path) -> dict[str, str]:
    return parse_pins(split(path.read_text())[1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_project_goes_through_init_lock_check_and_dockerfile(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool_caches: Path,
    corpus_index: LocalIndex,
) -> None:
    case = CASES[name]
    root = tmp_path / name
    output = _adopt(name, root, monkeypatch)
    assert case.adopted in output
    config = yaml.safe_load((root / "repro.yaml").read_text())
    assert (config["lock"]["tool"], config["cuda"]) == (case.tool, case.cuda)
    _use_index(root, corpus_index.url, case)

    locked = _repro("lock")
    assert locked.exit_code == 0, locked.output
    pins = _pins(root / "lockfiles" / "prod.txt")
    assert {k: pins.get(k) for k in case.pins} == case.pins
    if case.dev_pins:
        dev = _pins(root / "lockfiles" / "dev.txt")
        assert {k: dev.get(k) for k in case.dev_pins} == case.dev_pins
    # Every corpus release is a py3-none-any wheel: no builder stage is needed.
    assert "# wheels: all" in (root / "lockfiles" / "prod.txt").read_text()

    checked = _repro("lock", "--check")
    assert checked.exit_code == 0, checked.output

    rendered = _repro("dockerfile")
    assert rendered.exit_code == 0, rendered.output
    prod = (root / "dockerfiles" / "Dockerfile.prod").read_text()
    assert f"FROM {case.base} AS deps" in prod
    assert "AS builder" not in prod
    if case.wheel_cuda:
        assert f"the lock carries CUDA {case.wheel_cuda} as pip wheels" in prod
    else:
        assert "as pip wheels" not in prod


def test_unreachable_extra_index_is_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool_caches: Path,
    corpus_index: LocalIndex,
) -> None:
    """dinov2 names download.pytorch.org and pypi.nvidia.com, which cannot be reached here."""
    root = tmp_path / "dinov2"
    output = _adopt("dinov2", root, monkeypatch)
    assert "adopted requirements.txt (dev: requirements-dev.txt): requirements.txt, " \
        "locked with uv" in output  # fmt: skip
    _use_index(root, corpus_index.url, CASES["whisper"])
    locked = _repro("lock")
    assert locked.exit_code == 3, locked.output
    lines = locked.output.splitlines()
    assert lines[0] == ("repro: error: cannot resolve lockfiles/prod.txt: these indexes cannot "
                        "be reached:")  # fmt: skip
    assert lines[1].startswith("  https://download.pytorch.org/whl/cu117 (requirements.txt:1): ")
    assert lines[2].startswith("  https://pypi.nvidia.com (requirements.txt:10): ")
    assert lines[3] == f"  reachable: {corpus_index.url}"
    assert not (root / "lockfiles" / "prod.txt").exists()


@pytest.mark.network
def test_a_real_project_locks_against_the_real_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_caches: Path
) -> None:
    """pytorch/examples' mnist inputs with uv against the public index: torch from PyPI
    brings its CUDA runtime as wheels, so the image is the plain Python base."""
    root = tmp_path / "mnist"
    _adopt("pytorch-examples-mnist", root, monkeypatch)
    config = yaml.safe_load((root / "repro.yaml").read_text())
    config["lock"]["tool"] = "uv"
    (root / "repro.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    locked = _repro("lock", "--prod")
    assert locked.exit_code == 0, locked.output
    pins = _pins(root / "lockfiles" / "prod.txt")
    assert {"torch", "six", "tqdm"} <= set(pins)
    # CUDA 12 wheels are named nvidia-cuda-runtime-cu12, CUDA 13's nvidia-cuda-runtime.
    assert any(name.startswith("nvidia-cuda-runtime") for name in pins), sorted(pins)
    assert _repro("lock", "--check").exit_code == 0
    assert _repro("dockerfile").exit_code == 0
    prod = (root / "dockerfiles" / "Dockerfile.prod").read_text()
    assert f"FROM {CPU_BASE} AS deps" in prod and "as pip wheels" in prod
