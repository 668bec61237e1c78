"""`repro runs`, `repro show` and `repro diff` over real recorded runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from projects import demo_project
from reprostack.cli import cli
from reprostack.record.diff import diff_fingerprints, render_diff
from reprostack.record.run import RunRecord, write_fingerprint, write_record
from reprostack.record.store import list_run_ids, resolve_run


def fake_run(
    runs: Path, run_id: str, fingerprint: dict[str, object], status: str = "succeeded"
) -> None:
    """A record as `repro run` writes it (the run itself is exercised in test_run_local)."""
    folder = runs / run_id
    folder.mkdir(parents=True)
    record = RunRecord(
        id=run_id,
        argv=["train.py", "--lr", "0.1"],
        mode="local",
        status=status,
        exit_code=0,
        git_sha="0123456789abcdef",
        dirty=True,
    )
    write_record(folder, record)
    write_fingerprint(folder, fingerprint)


BASE = {
    "schema_version": 1,
    "git": {
        "sha": "aaa",
        "branch": "main",
        "dirty": False,
        "patch_sha256": None,
        "remote_url": None,
    },
    "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/usr/bin/python3"},
    "packages": {"numpy": "1.26.4", "torch": "2.4.1+cu124", "tqdm": "4.66.0"},
    "lockfiles": {},
    "os": {
        "system": "Linux",
        "release": "6.1",
        "distro": "Debian",
        "machine": "x86_64",
        "libc": "glibc 2.36",
    },
    "hardware": {"cpu_model": "cpu", "logical_cores": 2, "memory_bytes": 1},
    "nvidia": {"driver_version": "550.54.15", "cuda_driver_version": "12.4", "gpus": []},
    "cuda": {"runtime_version": "12.4", "cudnn_version": "9.1.0"},
    "container": None,
    "env": {"OMP_NUM_THREADS": "1"},
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo_project(tmp_path / "p")
    changed = json.loads(json.dumps(BASE))
    changed["git"]["sha"] = "bbb"
    changed["packages"] = {"numpy": "2.0.0", "torch": "2.4.1+cu124", "scipy": "1.13.0"}
    changed["nvidia"]["driver_version"] = "535.104.05"
    fake_run(root / "runs", "20260101-120000-aaaa", BASE)
    fake_run(root / "runs", "20260102-120000-bbbb", changed)
    fake_run(root / "runs", "20260102-130000-bbcc", BASE, status="failed")
    monkeypatch.chdir(root)
    return root


def test_list_is_newest_first(project: Path) -> None:
    assert list_run_ids(project / "runs") == [
        "20260102-130000-bbcc",
        "20260102-120000-bbbb",
        "20260101-120000-aaaa",
    ]
    result = CliRunner().invoke(cli, ["runs"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "mode", "status", "duration", "commit"]
    assert lines[2].split() == ["20260102-130000-bbcc", "local", "failed", "-", "01234567+"]
    assert [line.split()[0] for line in lines[2:]] == list_run_ids(project / "runs")


def test_resolve_last_prefix_and_errors(project: Path) -> None:
    runs = project / "runs"
    assert resolve_run(runs, "last").name == "20260102-130000-bbcc"
    assert resolve_run(runs, "20260101").name == "20260101-120000-aaaa"
    result = CliRunner().invoke(cli, ["show", "20260102"])
    assert result.exit_code == 2
    assert result.output == (
        "repro: error: '20260102' matches 2 runs: 20260102-130000-bbcc, 20260102-120000-bbbb\n"
        "hint: give more characters of the id\n"
    )
    result = CliRunner().invoke(cli, ["show", "1999"])
    assert result.exit_code == 2
    assert "no run matches '1999'" in result.output
    assert "20260102-130000-bbcc" in result.output


def test_show_prints_the_record_and_files(project: Path) -> None:
    result = CliRunner().invoke(cli, ["show", "last"], catch_exceptions=False)
    record = yaml.safe_load(result.output.split("files (")[0])
    assert record["id"] == "20260102-130000-bbcc"
    assert "  fingerprint.json" in result.output and "  run.yaml" in result.output


def test_diff_groups_changes(project: Path) -> None:
    result = CliRunner().invoke(cli, ["diff", "20260101", "20260102-12"], catch_exceptions=False)
    assert result.output == (
        "git:\n"
        "  git.sha: aaa -> bbb\n"
        "packages:\n"
        "  + scipy==1.13.0\n"
        "  - tqdm==4.66.0\n"
        "  ~ numpy: 1.26.4 -> 2.0.0\n"
        "cuda:\n"
        "  nvidia.driver_version: 550.54.15 -> 535.104.05\n"
    )


def test_diff_of_equal_fingerprints_and_ignored_groups() -> None:
    assert render_diff(diff_fingerprints(BASE, BASE)) == "no differences"
    other = {**BASE, "hardware": {"cpu_model": "other", "logical_cores": 8, "memory_bytes": 2}}
    assert diff_fingerprints(BASE, other, ignore=("hardware",)).empty
    assert diff_fingerprints(BASE, other).changes["hardware"] == [
        "hardware.cpu_model: cpu -> other",
        "hardware.logical_cores: 2 -> 8",
        "hardware.memory_bytes: 1 -> 2",
    ]


def test_no_runs_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo_project(tmp_path / "empty"))
    result = CliRunner().invoke(cli, ["runs"], catch_exceptions=False)
    assert result.output == f"no runs in {tmp_path / 'empty' / 'runs'}\n"
    result = CliRunner().invoke(cli, ["show", "last"])
    assert result.exit_code == 2
    assert "no runs recorded" in result.output


def test_diff_names_each_lock_file_by_its_path_once() -> None:
    before = {**BASE, "lockfiles": {"lockfiles/prod.txt": "aa", "lockfiles/dev.txt": "dd"}}
    after = {**BASE, "lockfiles": {"lockfiles/prod.txt": "bb"}}
    assert diff_fingerprints(before, after).changes["locks"] == [
        "lockfiles/dev.txt: dd -> (absent)",
        "lockfiles/prod.txt: aa -> bb",
    ]
    assert diff_fingerprints({**BASE, "lockfiles": None}, after).changes["locks"] == [
        "lockfiles/prod.txt: (absent) -> bb",
    ]
