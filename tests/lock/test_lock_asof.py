"""Time-travel locks: `repro lock --as-of DATE` and lock.exclude_newer, against upload times."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_lock_resolve import pins, repro

from paths import ROOT
from pkgindex import LocalIndex, write_project
from reprostack.asof import as_timestamp, parse_as_of
from reprostack.config.load import parse_config
from reprostack.errors import ConfigError, UsageError
from reprostack.lock import read_lock_header

# The test index's alpha releases: 1.0.0 on 2021-01-10, 1.1.0 on 2022-03-15 12:30Z, 2.0.0 on
# 2023-09-01 (tests/pkgindex.py); beta needs alpha<2.


def alpha_project(root: Path, index: LocalIndex, tool: str = "uv", extra: str = "") -> Path:
    write_project(root, tool=tool, prod=f"--index-url {index.url}\nalpha\n")
    if extra:
        (root / "repro.yaml").write_text((root / "repro.yaml").read_text() + extra)
    return root


def test_as_of_resolves_as_the_index_stood(project: Path, local_index: LocalIndex) -> None:
    alpha_project(project, local_index)
    prod = project / "lockfiles/prod.txt"
    result = repro("lock", "--as-of", "2022-01-01")
    assert result.exit_code == 0, result.output
    assert pins(prod) == {"alpha": "1.0.0"}
    assert "as of 2022-01-01" in result.stderr
    assert read_lock_header(prod).exclude_newer == "2022-01-01"
    assert "\n# exclude-newer: 2022-01-01\n" in prod.read_text()
    # A time, in another zone: 2022-03-15 14:00+02:00 is 12:00Z, before alpha 1.1.0 (12:30Z).
    result = repro("lock", "--as-of", "2022-03-15T14:00:00+02:00")
    assert result.exit_code == 0, result.output
    assert pins(prod) == {"alpha": "1.0.0"}
    assert read_lock_header(prod).exclude_newer == "2022-03-15T12:00:00Z"
    result = repro("lock", "--as-of", "2022-03-15T12:31:00Z")
    assert result.exit_code == 0, result.output
    assert pins(prod) == {"alpha": "1.1.0"}
    # Dropping the date keeps the pins (as any re-lock without --upgrade); upgrading moves on.
    result = repro("lock", "--as-of", "none")
    assert result.exit_code == 0, result.output
    assert pins(prod) == {"alpha": "1.1.0"}
    assert read_lock_header(prod).exclude_newer is None
    assert "exclude-newer" not in prod.read_text()
    assert repro("lock", "--upgrade").exit_code == 0
    assert pins(prod) == {"alpha": "2.0.0"}


def test_the_date_in_the_header_sticks_for_a_relock(project: Path, local_index: LocalIndex) -> None:
    alpha_project(project, local_index)
    prod = project / "lockfiles/prod.txt"
    assert repro("lock", "--as-of", "2022-06-01").exit_code == 0
    assert pins(prod) == {"alpha": "1.1.0"}
    # Months later the inputs change: the re-lock still resolves as of the header's date.
    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nalpha\nbeta\n")
    result = repro("lock", "--upgrade")
    assert result.exit_code == 0, result.output
    assert pins(prod) == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert read_lock_header(prod).exclude_newer == "2022-06-01"
    check = repro("lock", "--check")
    assert check.exit_code == 0, check.output


def test_check_calls_a_changed_date_stale(project: Path, local_index: LocalIndex) -> None:
    alpha_project(project, local_index, extra='lock:\n  exclude_newer: "2022-06-01"\n')
    # write_project already wrote a lock: block (tool: uv); put the date inside it.
    text = (
        (project / "repro.yaml")
        .read_text()
        .replace("lock:\n  tool: uv\nlock:\n  exclude_newer", "lock:\n  tool: uv\n  exclude_newer")
    )
    (project / "repro.yaml").write_text(text)
    result = repro("lock")
    assert result.exit_code == 0, result.output
    assert pins(project / "lockfiles/prod.txt") == {"alpha": "1.1.0"}
    assert repro("lock", "--check").exit_code == 0
    (project / "repro.yaml").write_text(text.replace("2022-06-01", "2021-06-01"))
    check = repro("lock", "--check")
    assert check.exit_code == 1
    assert (
        "lockfiles/prod.txt is stale: as-of date (exclude-newer) changed: 2022-06-01 -> "
        "2021-06-01" in check.stderr
    )
    other = repro("lock", "--check", "--as-of", "2022-06-01")
    assert other.exit_code == 0, other.output
    assert repro("lock").exit_code == 0
    assert pins(project / "lockfiles/prod.txt") == {"alpha": "1.0.0"}


def test_pip_tools_needs_pip_26_and_poetry_cannot(
    project: Path, local_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import version

    from reprostack.versions import version_tuple

    alpha_project(project, local_index, tool="pip-tools")
    result = repro("lock", "--as-of", "2022-01-01")
    if version_tuple(version("pip")) >= (26, 0):
        assert result.exit_code == 0, result.output
        assert pins(project / "lockfiles/prod.txt") == {"alpha": "1.0.0"}
    else:
        assert result.exit_code == 3
        assert "pip-tools resolves as of a date only with pip >= 26.0" in result.stderr
        assert "lock: {tool: uv}" in result.stderr
        assert not (project / "lockfiles/prod.txt").exists()
    poetry = project.parent / "poetry-project"
    poetry.mkdir()
    (poetry / "repro.yaml").write_text("name: demo\nlock: {tool: poetry}\n")
    (poetry / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "demo"\nversion = "0"\n[tool.poetry.dependencies]\n'
        'python = "^3.11"\n'
    )
    monkeypatch.chdir(poetry)
    refused = repro("lock", "--as-of", "2022-01-01")
    assert refused.exit_code == 3
    assert "Poetry cannot resolve as of a date" in refused.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("June 2022", "'June 2022' is not a date"),
        ("2022-13-01", "'2022-13-01' is not a date"),
        ("2022-06-01T10:00:00", "has no time zone"),
        ("2999-01-01", "is in the future"),
    ],
)
def test_bad_dates_are_refused(text: str, message: str, project: Path) -> None:
    with pytest.raises(UsageError, match=message):
        parse_as_of(text)
    write_project(project, tool="uv", prod="alpha\n")
    result = repro("lock", "--as-of", text)
    assert result.exit_code == 2
    assert message in result.stderr


def test_dates_normalise_to_utc() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_as_of("2025-06-01", now) == "2025-06-01"
    assert parse_as_of("2025-06-01T02:00:00+02:00", now) == "2025-06-01T00:00:00Z"
    assert parse_as_of("2025-06-01t10:00:00z", now) == "2025-06-01T10:00:00Z"
    assert as_timestamp("2025-06-01") == "2025-06-01T00:00:00Z"
    assert as_timestamp("2025-06-01T10:00:00Z") == "2025-06-01T10:00:00Z"


def test_repro_yaml_exclude_newer_quoted_or_not(tmp_path: Path) -> None:
    for written in ("2024-06-01", '"2024-06-01"', "2024-06-01T08:00:00Z"):
        config = parse_config(f"name: d\nlock:\n  exclude_newer: {written}\n", root=tmp_path,
                              path=tmp_path / "repro.yaml")  # fmt: skip
        assert config.lock.exclude_newer == (
            "2024-06-01" if "T" not in written else "2024-06-01T08:00:00Z"
        )
    with pytest.raises(ConfigError, match=r"repro.yaml:3: lock.exclude_newer: expected a date"):
        parse_config("name: d\nlock:\n  exclude_newer: 20240601\n", root=tmp_path,
                     path=tmp_path / "repro.yaml")  # fmt: skip


@pytest.mark.network
def test_as_of_against_the_public_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests 2.32.3 was uploaded on 2024-05-29, 2.32.4 on 2025-06-09.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repro.yaml").write_text(
        'name: demo\npython: "3.11"\nlock: {tool: uv, exclude_newer: "2024-06-01"}\n'
    )
    (tmp_path / "requirements.in").write_text("requests\n")
    result = repro("lock")
    if result.exit_code == 3:
        pytest.skip(f"public index unreachable: {result.stderr.splitlines()[0]}")
    assert result.exit_code == 0, result.output
    locked = pins(tmp_path / "lockfiles/prod.txt")
    assert locked["requests"] == "2.32.3"
    assert locked["urllib3"] == "2.2.1"  # 2.2.2 came out on 2024-06-17


def test_header_round_trip_with_a_date() -> None:
    from reprostack.lock.header import LockHeader, body_sha256, parse, render

    body = "alpha==1.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    header = LockHeader("prod", "uv 0.13.9", "3.11", "linux/amd64", (), {"requirements.in": "1"},
                        "2" * 64, body_sha256(body), exclude_newer="2024-06-01")  # fmt: skip
    text = render(header, body)
    assert "# platform: linux/amd64\n# exclude-newer: 2024-06-01\n" in text
    assert parse(text, "prod.txt") == header
    without = render(LockHeader(**{**header.__dict__, "exclude_newer": None}), body)
    assert "exclude-newer" not in without
    assert parse(without, "prod.txt").exclude_newer is None


@pytest.mark.network
def test_pip_tools_with_pip_26_uses_uploaded_prior_to(
    project: Path, local_index: LocalIndex, tmp_path: Path
) -> None:
    """pip >= 26 (fetched from the package index) first on the path of repro and pip-compile."""
    import subprocess
    import sys

    newer_pip = tmp_path / "pip26"
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(newer_pip),
         "pip>=26"], capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if fetched.returncode != 0:
        pytest.skip(f"pip >= 26 could not be fetched: {fetched.stderr.strip()[-300:]}")
    alpha_project(project, local_index, tool="pip-tools")
    src = ROOT / "src"
    env = {**os.environ, "PYTHONPATH": f"{newer_pip}{os.pathsep}{src}"}
    for date, expected in (("2022-01-01", "1.0.0"), ("2022-06-01", "1.1.0")):
        done = subprocess.run([sys.executable, "-m", "reprostack", "lock", "--as-of", date],
                              cwd=project, env=env, capture_output=True, text=True,
                              check=False, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "with pip-tools" in done.stderr and f"as of {date}" in done.stderr
        assert pins(project / "lockfiles/prod.txt") == {"alpha": expected}
