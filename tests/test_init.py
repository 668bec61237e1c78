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
        "warning: requirements.in lists no packages yet: add the project's dependencies "
        "before `repro lock`\n"
    )
    config = load_config(Path.cwd(), required=True)
    assert config.system_packages == () and config.dev_system_packages == ("git",)
    assert config.cuda == "none" and "os:" not in Path("repro.yaml").read_text()
    assert "ca_certificates: []" in Path("repro.yaml").read_text()
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


def _init(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, ["init", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_adopts_requirements_txt_and_a_dev_file(runner: CliRunner) -> None:
    Path("requirements.txt").write_text("torch>=2.1\nnumpy\n")
    Path("requirements-dev.txt").write_text("pytest\n")
    output = _init(runner)
    assert "adopted requirements.txt (dev: requirements-dev.txt): requirements.txt, locked " \
        "with uv\n" in output  # fmt: skip
    assert "cuda: auto follows the lock" in output
    assert not Path("requirements.in").exists()
    config = load_config(Path.cwd())
    assert config.lock.inputs == ("requirements.txt",)
    assert config.lock.dev_inputs == ("requirements-dev.txt",)
    assert config.cuda == "auto"


def test_init_adopts_pep621_dependencies_and_names_the_extras(runner: CliRunner) -> None:
    Path("pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[project.optional-dependencies]\ndev = ["pytest"]\ngpu = ["torch"]\n'
    )
    output = _init(runner, "--cuda", "none")
    assert "adopted pyproject.toml (dev: pyproject.toml[dev]): PEP 621 [project] " \
        "dependencies, locked with uv" in output  # fmt: skip
    assert "pyproject.toml has extras gpu: list the ones the image needs under lock.extras" \
        in output  # fmt: skip
    config = load_config(Path.cwd())
    assert (config.lock.tool, config.cuda) == ("uv", "none")


def test_init_adopts_a_uv_project(runner: CliRunner) -> None:
    Path("pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["jax"]\n'
        '[dependency-groups]\nlint = ["ruff"]\n'
    )
    Path("uv.lock").write_text("version = 1\n")
    output = _init(runner)
    assert "a uv project, locked with uv" in output
    assert "dependency groups lint" in output
    assert load_config(Path.cwd()).lock.tool == "uv"


def test_init_warns_about_an_empty_input_set(runner: CliRunner) -> None:
    Path("requirements.txt").write_text("# nothing yet\n")
    output = _init(runner)
    assert "warning: requirements.txt lists no packages: `repro lock` would lock nothing" in output


def test_init_locks_a_requirements_project_with_uv_and_says_how_to_keep_pip_tools(
    runner: CliRunner,
) -> None:
    Path("requirements.in").write_text("numpy\n")
    output = _init(runner, "--cuda", "none")
    assert "adopted requirements.in: pip-tools inputs, locked with uv\n" in output
    assert "set lock.tool: pip-tools in repro.yaml to lock with pip-tools instead" in output
    assert load_config(Path.cwd()).lock.tool == "uv"


def test_init_inputs_names_files_adoption_does_not_find(runner: CliRunner) -> None:
    # ray's dl-gpu-requirements.txt and TGI's server/pyproject.toml are not adopted by name.
    Path("dl-gpu-requirements.txt").write_text(
        "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.1.0+cu121\n"
    )
    Path("server").mkdir()
    Path("server/pyproject.toml").write_text(
        '[project]\nname = "server"\nversion = "1"\ndependencies = ["grpcio"]\n'
    )
    output = _init(runner, "--inputs", "dl-gpu-requirements.txt",
                   "--inputs", "server/pyproject.toml")  # fmt: skip
    assert "adopted dl-gpu-requirements.txt, server/pyproject.toml: named with --inputs, " \
        "locked with uv\n" in output  # fmt: skip
    config = load_config(Path.cwd())
    assert config.lock.inputs == ("dl-gpu-requirements.txt", "server/pyproject.toml")
    assert config.lock.dev_inputs == ()
    # The +cu121 torch among the named inputs: the image follows the lock's CUDA.
    assert config.cuda == "auto"
    assert not Path("requirements.in").exists()


def test_init_inputs_refuses_a_missing_file(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init", "--inputs", "nope.txt"])
    assert result.exit_code == 2
    assert "--inputs: 'nope.txt' does not exist" in result.output
    assert not Path("repro.yaml").exists()
