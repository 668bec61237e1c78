"""`repro init`: the files it writes, what it keeps, and that the result validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reprostack.cli import cli
from reprostack.config import load_config


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    project = tmp_path / "My Model"
    project.mkdir()
    monkeypatch.chdir(project)
    return CliRunner()


def test_init_writes_config_inputs_and_ignores(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == (
        "wrote   repro.yaml\n"
        "wrote   requirements.in\n"
        "wrote   requirements-dev.in\n"
        "wrote   .dockerignore\n"
        "wrote   .gitignore\n"
    )
    config = load_config(Path.cwd(), required=True)
    assert config.name == "my-model"
    assert config.lock.inputs == ("requirements.in",)
    assert config.lock.dev_inputs == ("requirements-dev.in",)
    assert Path(".gitignore").read_text() == "/runs/\n.env\n"
    assert "runs/" in Path(".dockerignore").read_text().splitlines()
    assert ".git" in Path(".dockerignore").read_text().splitlines()


def test_init_never_overwrites_without_force(runner: CliRunner) -> None:
    Path("repro.yaml").write_text("name: mine\n")
    Path(".gitignore").write_text("*.pyc\n")
    result = runner.invoke(cli, ["init"], catch_exceptions=False)
    assert "kept    repro.yaml (exists; --force overwrites)" in result.output
    assert "updated .gitignore" in result.output
    assert Path("repro.yaml").read_text() == "name: mine\n"
    assert Path(".gitignore").read_text() == "*.pyc\n/runs/\n.env\n"
    forced = runner.invoke(cli, ["init", "--force", "--name", "vision"], catch_exceptions=False)
    assert "wrote   repro.yaml" in forced.output
    assert load_config(Path.cwd()).name == "vision"
    assert Path(".gitignore").read_text() == "*.pyc\n/runs/\n.env\n"  # no duplicate lines


def test_init_detects_a_poetry_project(runner: CliRunner) -> None:
    Path("pyproject.toml").write_text('[tool.poetry]\nname = "x"\nversion = "0.1.0"\n')
    runner.invoke(cli, ["init"], catch_exceptions=False)
    config = load_config(Path.cwd())
    assert (config.lock.tool, config.lock.inputs) == ("poetry", ("pyproject.toml",))
    assert not Path("requirements.in").exists()


def test_init_layout(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init", "--layout"], catch_exceptions=False)
    assert result.exit_code == 0
    for folder in ("data/toy", "configs", "outputs", "playground", "scripts", "debug"):
        assert Path(folder).is_dir(), folder
    assert Path("data/README.md").read_text().startswith("# data/")
    assert Path(".gitignore").read_text().splitlines() == [
        "/runs/",
        ".env",
        "/outputs/",
        "/debug/",
        "/data/*",
        "!/data/README.md",
        "!/data/toy/",
    ]


def test_init_with_an_invalid_cuda_fails_with_the_field(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init", "--cuda", "12.x"])
    assert result.exit_code == 2
    assert "repro.yaml:5: cuda: '12.x' is not a CUDA version" in result.output
