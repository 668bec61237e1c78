"""Lock headers: written, read back, and checked against repro.yaml; index policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprostack.config import parse_config
from reprostack.errors import CheckFailed, ConfigError, UsageError
from reprostack.lock import LockHeader, ensure_lock_matches, read_lock_header
from reprostack.lock.header import body_sha256, parse, render, split
from reprostack.lock.indexes import check_option, scan_requirements

_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)


@given(
    tool=_text, python=st.sampled_from(["3.10", "3.12.4"]), urls=st.lists(_text, max_size=3),
    inputs=st.dictionaries(_text, st.text("0123456789abcdef", min_size=64, max_size=64),
                           max_size=3),
    body=st.text(max_size=200),
)  # fmt: skip
def test_header_round_trips(
    tool: str, python: str, urls: list[str], inputs: dict[str, str], body: str
) -> None:
    header = LockHeader("prod", f"uv {tool}", python, "linux/amd64", tuple(urls), inputs,
                        "0" * 64, body_sha256(body))  # fmt: skip
    text = render(header, body)
    assert parse(text, "prod.txt") == header
    assert split(text)[1] == body


def _config(root: Path, python: str = "3.11", platform: str = "linux/amd64") -> object:
    text = f'name: demo\npython: "{python}"\nplatform: {platform}\n'
    return parse_config(text, root=root, path=root / "repro.yaml")


def _write_lock(root: Path, python: str = "3.11", platform: str = "linux/amd64") -> Path:
    body = "alpha==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    header = LockHeader("prod", "uv 0.13.9", python, platform, (), {}, "0" * 64, body_sha256(body))
    path = root / "lockfiles" / "prod.txt"
    path.parent.mkdir(parents=True)
    path.write_text(render(header, body))
    return path


def test_ensure_lock_matches_accepts_the_configured_target(tmp_path: Path) -> None:
    path = _write_lock(tmp_path)
    header = ensure_lock_matches(_config(tmp_path), path)  # type: ignore[arg-type]
    assert header == read_lock_header(path)


def test_ensure_lock_matches_refuses_another_python_and_platform(tmp_path: Path) -> None:
    path = _write_lock(tmp_path, python="3.10", platform="linux/arm64")
    with pytest.raises(CheckFailed) as info:
        ensure_lock_matches(_config(tmp_path), path)  # type: ignore[arg-type]
    assert info.value.exit_code == 1
    assert info.value.message == (
        "lockfiles/prod.txt was resolved for Python 3.10, repro.yaml asks for 3.11\n"
        "lockfiles/prod.txt was resolved for linux/arm64, repro.yaml asks for linux/amd64"
    )
    assert info.value.hint == "run `repro lock` to re-resolve it"


def test_read_lock_header_of_a_foreign_or_missing_file(tmp_path: Path) -> None:
    foreign = tmp_path / "requirements.txt"
    foreign.write_text("alpha==1.0\n")
    with pytest.raises(ConfigError, match="not written by `repro lock`"):
        read_lock_header(foreign)
    with pytest.raises(UsageError, match="no such lock"):
        read_lock_header(tmp_path / "nope.txt")


def test_scan_requirements_reads_every_index_spelling(tmp_path: Path) -> None:
    path = tmp_path / "requirements.in"
    path.write_text(
        "-i https://example.invalid/simple  # the main index\n"
        "--extra-index-url=https://download.example/whl/cu124\n"
        "torch==2.4.0 \\\n    --hash=sha256:abc\n"
        "-f ./wheels\n-r more.in\n"
    )
    scan = scan_requirements(path, "requirements.in")
    assert [(o.option, o.value, o.where) for o in scan.options] == [
        ("--index-url", "https://example.invalid/simple", "requirements.in:1"),
        ("--extra-index-url", "https://download.example/whl/cu124", "requirements.in:2"),
        ("--find-links", "./wheels", "requirements.in:5"),
    ]
    assert scan.includes == ((tmp_path / "more.in").resolve(),)
    wheels = scan.options[2].in_lock(tmp_path / "lockfiles")
    assert wheels.line() == "--find-links ../wheels"
    for option in scan.options:
        check_option(option, tmp_path, tmp_path)


def test_check_option_refuses_folders_outside_the_project(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    path = root / "requirements.in"
    path.write_text("--find-links ../elsewhere\n--index-url file:///srv/mirror/simple\n")
    options = scan_requirements(path, "requirements.in").options
    for option in options:
        with pytest.raises(ConfigError, match="is outside the project"):
            check_option(option, root, root)
