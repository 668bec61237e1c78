"""Exit codes of the error paths of init, lock, dockerfile and build (docs/reference/exit-codes.md).

0 ok; 1 a check failed; 2 bad usage or config; 3 the environment lacks something. Each case
runs ``repro`` in a project folder and asserts the code and the first line of the message: in
process (the group that maps errors to codes, as the entry point calls it) unless the process
itself matters (a whole environment of its own, Ctrl-C), then the real entry point
(``python -m reprostack``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pkgindex import LocalIndex, local_index, tool_caches
from projects import repro_in_process

__all__ = ["local_index", "tool_caches"]  # fixtures, imported so pytest finds them

POETRY = """[tool.poetry]
name = "demo"
version = "0.1.0"
description = ""
authors = ["t <t@example.com>"]

[tool.poetry.dependencies]
python = "^3.10"
beta = "*"

[tool.poetry.group.dev.dependencies]
devtool = "*"
"""


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _repro(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "reprostack", *args], cwd=root, env=env,
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    return done.returncode, done.stderr


def _repro_here(root: Path, *args: str) -> tuple[int, str]:
    done = repro_in_process(root, *args)
    return done.returncode, done.stderr


def _project(root: Path, inputs: str, tool: str = "pip-tools") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "repro.yaml").write_text(f'name: demo\npython: "3.11"\nlock: {{tool: {tool}}}\n')
    (root / "requirements.in").write_text(inputs)
    return root


def test_no_config_and_a_bad_config_are_usage_errors(tmp_path: Path) -> None:
    code, err = _repro_here(tmp_path, "lock")
    assert code == 2, err
    (tmp_path / "repro.yaml").write_text("name: demo\ncuda: twelve\n")
    code, err = _repro_here(tmp_path, "dockerfile")
    assert code == 2 and "repro.yaml:2: cuda:" in err, err


@pytest.mark.parametrize("tool", ["pip-tools", "uv"])
def test_check_without_locks_is_a_failed_check(tool: str, tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "beta\n", tool)
    (root / "requirements-dev.in").write_text("devtool\n")
    code, err = _repro_here(root, "lock", "--check")
    assert code == 1, err
    assert "lockfiles/prod.txt is stale: lockfiles/prod.txt does not exist" in err


def test_check_without_locks_is_a_failed_check_for_poetry_too(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "repro.yaml").write_text('name: demo\npython: "3.11"\n')
    (root / "pyproject.toml").write_text(POETRY)
    code, err = _repro_here(root, "lock", "--check")
    assert code == 1, err
    assert "lockfiles/dev.txt is stale: lockfiles/prod.txt, which it is compiled against, " \
        "does not exist" in err  # fmt: skip


@pytest.mark.parametrize("tool", ["pip-tools", "uv"])
def test_unreachable_git_dependency_is_the_environment(
    tool: str, tmp_path: Path, local_index: LocalIndex, tool_caches: Path
) -> None:
    url = f"git+http://127.0.0.1:{closed_port()}/nothing.git"
    root = _project(tmp_path / "p", f"--index-url {local_index.url}\nthing @ {url}\n", tool)
    code, err = _repro_here(root, "lock")
    assert code == 3, err
    first = err.splitlines()[0]
    shown = "pip-compile" if tool == "pip-tools" else "uv"
    assert first.startswith(f"repro: error: {shown} could not fetch "), err
    assert first.endswith(f"{url.removeprefix('git+')} (a direct URL or git dependency) while "
                          "resolving lockfiles/prod.txt"), err  # fmt: skip


@pytest.mark.skipif(shutil.which("poetry") is None, reason="Poetry is not installed")
def test_unreachable_git_dependency_is_the_environment_for_poetry_too(
    tmp_path: Path, tool_caches: Path
) -> None:
    """The same cause, the same exit code whatever the tool: Poetry said exit 2 here."""
    url = f"http://127.0.0.1:{closed_port()}/nothing.git"
    root = tmp_path / "p"
    root.mkdir()
    (root / "repro.yaml").write_text('name: demo\npython: "3.11"\n')
    (root / "pyproject.toml").write_text(
        POETRY.replace('beta = "*"', f'thing = {{ git = "{url}" }}')
    )
    code, err = _repro(root, "lock")
    assert code == 3, err
    assert err.splitlines()[0] == (
        f"repro: error: poetry could not fetch {url} (a direct URL or git dependency) while "
        "resolving poetry.lock"
    ), err


@pytest.mark.parametrize("tool", ["pip-tools", "uv"])
def test_missing_version_and_missing_package_are_config_errors(
    tool: str, tmp_path: Path, local_index: LocalIndex, tool_caches: Path
) -> None:
    root = _project(tmp_path / "p", f"--index-url {local_index.url}\nalpha==9.9\n", tool)
    code, err = _repro_here(root, "lock")
    assert code == 2, err
    if tool == "pip-tools":
        assert err.startswith("repro: error: pip-compile: no release matches alpha==9.9 on the "
                              "indexes of lockfiles/prod.txt; versions there: 1.0.0, 1.1.0, "
                              "2.0.0")  # fmt: skip
    else:  # uv's own words are accurate and kept
        assert "alpha==9.9" in err
    (root / "requirements.in").write_text(f"--index-url {local_index.url}\nnosuchpkg\n")
    code, err = _repro_here(root, "lock")
    assert code == 2, err


def test_dockerfile_without_a_lock_is_a_usage_error(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "beta\n")
    code, err = _repro_here(root, "dockerfile")
    assert code == 2, err
    assert "prod.txt: no lock at" in err


def test_build_without_an_engine_is_the_environment(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "beta\n")
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/no.sock",
           "HOME": str(tmp_path)}  # fmt: skip
    code, err = _repro(root, "build", "--prod", env=env)
    assert code == 3, err


def test_ctrl_c_exits_130_with_a_word_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C while `repro lock` waits on an index that never answers: 130, not click's 1."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(120)
        port = silent.getsockname()[1]
        root = _project(tmp_path / "p", f"--index-url http://127.0.0.1:{port}/simple\nbeta\n", "uv")
        argv = [sys.executable, "-m", "reprostack", "lock", "--prod"]
        proc = subprocess.Popen(
            argv, cwd=root, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            connection, _ = silent.accept()  # repro (or its lock tool) is now waiting on us
            with connection:
                os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
                _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Aborted!" not in err, err


def test_a_git_host_named_by_no_url_is_the_environment_for_every_tool() -> None:
    from reprostack.errors import EnvironmentMissing
    from reprostack.lock.failures import explain

    for tool in ("pip-compile", "uv", "poetry"):
        error = explain(tool, "Failed to clone repository: could not resolve host\n",
                        "lockfiles/prod.txt", [])  # fmt: skip
        assert isinstance(error, EnvironmentMissing), (tool, error)
        assert error.exit_code == 3
        assert error.message.startswith(
            f"{tool} could not reach a git host while resolving lockfiles/prod.txt"
        )
