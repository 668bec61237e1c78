"""`repro lock` for a Poetry project: poetry.lock converted to hashed requirements."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_lock_resolve import pins, repro

from pkgindex import LocalIndex, local_index, tool_caches
from reprostack.lock import poetry as poetry_backend
from reprostack.lock import read_lock_header

__all__ = ["local_index", "tool_caches"]

PYPROJECT = """\
[tool.poetry]
name = "demo"
version = "0.1.0"
description = ""
authors = []
package-mode = false

[tool.poetry.dependencies]
python = ">=3.10,<4"
gamma = {{version = "*", extras = ["fast"]}}
linuxonly = "*"

[tool.poetry.group.dev.dependencies]
devtool = "*"

[[tool.poetry.source]]
name = "local"
url = "{url}"
priority = "primary"
"""


@pytest.fixture
def poetry_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_caches: Path, local_index: LocalIndex
) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(url=local_index.url))
    (root / "repro.yaml").write_text('name: demo\npython: "3.11"\n')
    monkeypatch.chdir(root)
    return root


@pytest.mark.skipif(poetry_backend.find_poetry() is None, reason="Poetry is not installed")
def test_poetry_project_locks_prod_and_dev(poetry_project: Path, local_index: LocalIndex) -> None:
    result = repro("lock")
    assert result.exit_code == 0, result.output
    prod, dev = poetry_project / "lockfiles/prod.txt", poetry_project / "lockfiles/dev.txt"
    header = read_lock_header(prod)
    assert header.tool_name == "poetry" and header.index_urls == (local_index.url,)
    assert set(header.inputs) == {"pyproject.toml", "poetry.lock"}
    # poetry.lock is universal; the conversion keeps what linux/amd64 + Python 3.11 installs.
    assert pins(prod) == {"alpha": "1.1.0", "beta": "1.0.0", "delta": "1.0.0", "gamma": "0.5.0",
                          "linuxonly": "1.0.0"}  # fmt: skip
    assert pins(dev) == {**pins(prod), "devtool": "3.0.0"}
    assert "--hash=sha256:" in prod.read_text()
    # Poetry's side effects stayed in a temporary folder: no virtualenv for the host's Python.
    assert not (Path(os.environ["POETRY_CACHE_DIR"]) / "virtualenvs").exists()
    assert repro("lock").stderr == (
        "lockfiles/prod.txt is up to date\nlockfiles/dev.txt is up to date\n"
    )

    # A fresh poetry.lock is converted without running Poetry at all (nor needing it).
    shutil.rmtree(poetry_project / "lockfiles")
    (poetry_project / "repro.yaml").write_text(
        'name: demo\npython: "3.11"\nplatform: linux/arm64\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(poetry_backend, "find_poetry", lambda: None)
        result = repro("lock", "--prod")
    assert result.exit_code == 0, result.output
    assert pins(prod)["delta"] == "1.0.0" and "linuxonly" in pins(prod)
    assert read_lock_header(prod).platform == "linux/arm64"


def test_poetry_project_without_poetry_says_how_to_get_it(
    poetry_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poetry_backend, "find_poetry", lambda: None)
    result = repro("lock")
    assert result.exit_code == 3
    assert result.stderr == (
        "repro: error: this is a Poetry project and poetry.lock does not exist, but Poetry is "
        "not installed\nhint: install it with `pip install 'reprostack[poetry]'`, or run "
        "`poetry lock` where Poetry is installed\n"
    )
    assert not (poetry_project / "lockfiles/prod.txt").exists()


@pytest.mark.skipif(poetry_backend.find_poetry() is None, reason="Poetry is not installed")
def test_a_failed_lock_restores_poetry_lock(poetry_project: Path) -> None:
    assert repro("lock").exit_code == 0
    saved = {name: (poetry_project / name).read_bytes()
             for name in ("poetry.lock", "lockfiles/prod.txt", "lockfiles/dev.txt")}  # fmt: skip
    # `poetry lock` succeeds (and rewrites poetry.lock), prod converts, then dev cannot: a
    # folder dependency has no hashes. The rewritten poetry.lock is a failed lock's side effect.
    local = poetry_project / "localpkg"
    local.mkdir()
    (local / "pyproject.toml").write_text(
        '[project]\nname = "localpkg"\nversion = "1.0"\n\n[build-system]\n'
        'requires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    pyproject = poetry_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'devtool = "*"', 'devtool = "*"\nlocalpkg = {path = "localpkg"}'))  # fmt: skip
    result = repro("lock")
    assert result.exit_code == 2, result.output
    assert "poetry.lock takes localpkg from a directory source" in result.stderr
    assert {name: (poetry_project / name).read_bytes() for name in saved} == saved
    assert sorted(p.name for p in (poetry_project / "lockfiles").iterdir()) == [
        "dev.txt", "prod.txt"]  # fmt: skip
