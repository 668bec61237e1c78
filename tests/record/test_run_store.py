"""The run store: true start order, damaged records, reading only what is shown, a runs
folder that cannot take a record, and a disk that fills up while a run logs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from projects import REPRO, demo_project, repro
from reprostack.cli import cli
from reprostack.record.ids import RUN_ID_RE
from reprostack.record.run import RunRecord, write_record
from reprostack.record.store import list_run_ids, list_runs, resolve_run


def put(runs: Path, run_id: str, started_at: str, status: str = "succeeded") -> Path:
    folder = runs / run_id
    folder.mkdir(parents=True)
    write_record(
        folder,
        RunRecord(id=run_id, argv=["t.py"], mode="local", status=status, started_at=started_at),
    )
    return folder


def test_runs_started_in_one_second_follow_their_true_start_time(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # The random suffixes sort the other way round from the start times.
    put(runs, "20260101-120000-zzzz", "2026-01-01T12:00:00.100000Z")
    put(runs, "20260101-120000-mmmm", "2026-01-01T12:00:00.500000Z")
    put(runs, "20260101-120000-aaaa", "2026-01-01T12:00:00.900000Z")
    put(runs, "20260101-115959-zzzz", "2026-01-01T11:59:59.999999Z")
    assert list_run_ids(runs) == [
        "20260101-120000-aaaa",
        "20260101-120000-mmmm",
        "20260101-120000-zzzz",
        "20260101-115959-zzzz",
    ]
    assert resolve_run(runs, "last").name == "20260101-120000-aaaa"
    assert [e.id for e in list_runs(runs, limit=2)] == [
        "20260101-120000-aaaa",
        "20260101-120000-mmmm",
    ]


def test_real_runs_in_one_second_are_listed_in_start_order(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "quick.py").write_text("print('ok')\n")
    for _ in range(3):
        assert repro(project, "run", "quick.py").returncode == 0
    starts = {
        p.name: yaml.safe_load((p / "run.yaml").read_text())["started_at"]
        for p in (project / "runs").iterdir()
    }
    assert list_run_ids(project / "runs") == sorted(starts, key=starts.__getitem__, reverse=True)
    for run_id, started in starts.items():  # the id's stamp is the record's start, to the second
        assert started.replace("-", "").replace(":", "").replace("T", "-")[:15] == run_id[:15]


@pytest.fixture
def damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = demo_project(tmp_path / "p")
    runs = project / "runs"
    put(runs, "20260101-120000-good", "2026-01-01T12:00:00.000000Z")
    for run_id, text in {
        "20260102-120000-empt": "",
        "20260103-120000-noid": "argv: [a]\nmode: local\n",
        "20260104-120000-type": "id: 20260104-120000-type\nargv: 3\n",
        "20260105-120000-yaml": "id: [unclosed\n",
        "20260106-120000-list": "- just\n- a list\n",
    }.items():
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "run.yaml").write_text(text)
    monkeypatch.chdir(project)
    return project


def test_damaged_records_are_shown_as_damaged(damaged: Path) -> None:
    result = CliRunner().invoke(cli, ["runs"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # The table (header, rule, one row per run: damaged ones say so), then each damage's reason.
    assert [line.split()[:3] for line in lines[2:8]] == [
        ["20260106-120000-list", "-", "damaged"],
        ["20260105-120000-yaml", "-", "damaged"],
        ["20260104-120000-type", "-", "damaged"],
        ["20260103-120000-noid", "-", "damaged"],
        ["20260102-120000-empt", "-", "damaged"],
        ["20260101-120000-good", "local", "succeeded"],
    ]
    assert lines[8:] == [
        "20260106-120000-list: damaged record: run.yaml is not a mapping",
        "20260105-120000-yaml: damaged record: unreadable: while parsing a flow sequence",
        "20260104-120000-type: damaged record: argv is int, not list",
        "20260103-120000-noid: damaged record: no run id",
        "20260102-120000-empt: damaged record: run.yaml is empty",
    ]
    as_json = CliRunner().invoke(cli, ["runs", "--json", "-n", "1"], catch_exceptions=False)
    assert as_json.exit_code == 0
    assert '"status": "damaged"' in as_json.output
    shown = CliRunner().invoke(cli, ["replay", "20260102"])
    assert shown.exit_code == 125
    assert "damaged run record: run.yaml is empty" in shown.output
    assert "Traceback" not in shown.output


def test_runs_n_reads_only_the_records_it_shows(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    runs = project / "runs"
    put(runs, "20260102-120000-bbbb", "2026-01-02T12:00:00.000000Z")
    put(runs, "20260103-120000-cccc", "2026-01-03T12:00:00.000000Z")
    # An older record that blocks whoever opens it: reading it would hang the listing.
    (runs / "20260101-120000-aaaa").mkdir()
    os.mkfifo(runs / "20260101-120000-aaaa" / "run.yaml")
    result = subprocess.run(
        [*REPRO, "runs", "-n", "2"], cwd=project, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert [line[:20] for line in result.stdout.splitlines()[2:]] == [  # below the header
        "20260103-120000-cccc",
        "20260102-120000-bbbb",
    ]


def test_runs_folder_that_is_a_file_exits_125(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "runs").write_text("not a folder\n")
    result = repro(project, "run", "train.py")
    assert result.returncode == 125
    assert result.stderr.startswith("repro: error: cannot record a run in ")
    assert "it is a file, not a folder; nothing was run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted at the project's runs folder (needs root; skips loudly else)."""
    project = demo_project(tmp_path / "p")
    runs = project / "runs"
    runs.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("SKIPPED LOUDLY: mounting a size-limited tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield project
    finally:
        subprocess.run(["umount", "-l", str(runs)], check=False)


def test_a_full_disk_while_logging_neither_hangs_nor_loses_the_record(small_disk: Path) -> None:
    project = small_disk
    (project / "loud.py").write_text(
        "import sys\nline = 'x' * 1023 + '\\n'\n"
        "for _ in range(6 * 1024):\n    sys.stdout.write(line)\n"
        "print('finished', file=sys.stderr)\n"
    )
    result = repro(project, "run", "loud.py")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout) == 6 * 1024 * 1024  # the terminal got everything
    assert "cannot write stdout.log (No space left on device)" in result.stderr
    (run,) = [p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name)]
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert (record["status"], record["exit_code"]) == ("succeeded", 0)
    (note,) = [n for n in record["notes"] if "stdout" in n]
    dropped = int(note.split()[0])
    logged = (run / "stdout.log").stat().st_size
    assert note.endswith("bytes of stdout were not logged: No space left on device")
    assert 0 < dropped <= 6 * 1024 * 1024 and logged < 6 * 1024 * 1024


def test_a_full_or_read_only_runs_folder_exits_125(small_disk: Path) -> None:
    project = small_disk
    runs = project / "runs"
    with (runs / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    result = repro(project, "run", "train.py")
    assert result.returncode == 125, result.stderr
    assert "No space left on device; nothing was run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [p for p in runs.iterdir() if RUN_ID_RE.match(p.name)]
    (runs / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(runs)], check=True)
    result = repro(project, "run", "train.py")
    assert result.returncode == 125, result.stderr
    assert "Read-only file system; nothing was run" in result.stderr
