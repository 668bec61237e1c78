"""One lock against the public index: the real thing, when the network allows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_lock_resolve import pins, repro

from reprostack.lock import read_lock_header


@pytest.mark.network
def test_uv_locks_a_pyproject_against_the_public_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repro.yaml").write_text('name: demo\npython: "3.12"\nlock: {tool: uv}\n')
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\ndependencies = ["six==1.17.0"]\n'
        '[project.optional-dependencies]\ndev = ["packaging==24.2"]\n'
    )
    result = repro("lock")
    if result.exit_code == 3:
        pytest.skip(f"public index unreachable: {result.stderr.splitlines()[0]}")
    assert result.exit_code == 0, result.output
    assert pins(tmp_path / "lockfiles/prod.txt") == {"six": "1.17.0"}
    assert pins(tmp_path / "lockfiles/dev.txt") == {"six": "1.17.0", "packaging": "24.2"}
    assert read_lock_header(tmp_path / "lockfiles/dev.txt").inputs.keys() == {
        "pyproject.toml",
        "pyproject.toml[dev]",
        "lockfiles/prod.txt",
    }
