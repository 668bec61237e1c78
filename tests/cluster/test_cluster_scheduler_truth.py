"""`repro runs` tells the truth about cluster runs when Slurm does not answer (real cluster).

The cluster of ci/slurm.sh is shared by every test: it is never stopped here. A controller
that is down is a private copy of its slurm.conf whose SlurmctldPort nothing listens on; a
hung one is a port whose listener accepts and never answers.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from projects import REPRO, demo_project, repro
from reprostack.record.ids import RUN_ID_RE

pytestmark = pytest.mark.usefixtures("slurm")

# Writes two metric lines, then waits until the file `release` appears in the project.
WAIT_SCRIPT = """\
import json, os, time
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
with open(out / "metrics.jsonl", "a") as f:
    f.write(json.dumps({"step": 0, "loss": 0.75}) + "\\n")
    f.write(json.dumps({"step": 1, "loss": 0.5}) + "\\n")
deadline = time.monotonic() + 300
while not Path("release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("released")
"""


def run_dirs(project: Path) -> list[Path]:
    return sorted(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))


def record_of(folder: Path) -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load((folder / "run.yaml").read_text())  # type: ignore[type-arg]
    return data


def until(check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


@pytest.fixture
def waiting_run(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(project, run folder) of a Slurm run that is running until `release` is written."""
    project = demo_project(tmp_path / "p")
    (project / "wait.py").write_text(WAIT_SCRIPT)
    submitted = repro(project, "run", "--slurm", "wait.py")
    assert submitted.returncode == 0, submitted.stderr
    (run,) = run_dirs(project)
    job = record_of(run)["scheduler"]["job_id"]
    try:
        until(lambda: record_of(run)["status"] == "running")
        yield project, run
    finally:
        (project / "release").touch()
        subprocess.run(["scancel", job], capture_output=True, check=False)  # the real cluster


def private_conf(tmp_path: Path, port: int) -> Path:
    """A copy of the test cluster's slurm.conf whose controller is at ``port`` here."""
    text = Path(os.environ["SLURM_CONF"]).read_text()
    copy = tmp_path / "slurm.conf"
    copy.write_text(re.sub(r"(?m)^SlurmctldPort=.*$", f"SlurmctldPort={port}", text))
    return copy


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        port: int = s.getsockname()[1]
    return port


def test_runs_answers_within_seconds_when_the_controller_is_down(
    waiting_run: tuple[Path, Path], tmp_path: Path
) -> None:
    project, run = waiting_run
    down = {"SLURM_CONF": str(private_conf(tmp_path, closed_port()))}
    started = time.monotonic()
    listed = repro(project, "runs", env=down, timeout=120)
    took = time.monotonic() - started
    assert listed.returncode == 0, listed.stderr
    assert took < 20, f"repro runs took {took:.0f} s with the controller down"
    (row,) = [line for line in listed.stdout.splitlines() if line.split()[0] == run.name]
    assert row.split()[3] == "running"
    assert "lost" not in listed.stdout
    assert f"{run.name}: scheduler unreachable, running as last recorded" in listed.stdout
    as_json = repro(project, "runs", "--json", env=down, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    (entry,) = yaml.safe_load(as_json.stdout)
    assert entry["status"] == "running"
    assert "Slurm did not answer" in entry["scheduler_unreachable"]
    started = time.monotonic()
    shown = repro(project, "show", run.name, env=down, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert time.monotonic() - started < 20
    assert "status: running" in shown.stdout
    assert "scheduler unreachable, running as last recorded: Slurm did not answer" in shown.stderr


def test_runs_never_judges_on_a_record_read_before_a_hung_controller_answered(
    waiting_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The job ends while `repro runs` waits on a hung controller: what it shows is the
    record as the node closed it, not the one it read before asking (then `lost`)."""
    project, run = waiting_run
    asked = threading.Event()
    held: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("", 0))
        server.listen()

        def hang() -> None:  # accept and never answer, as a hung slurmctld does
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            asked.set()

        threading.Thread(target=hang, daemon=True).start()
        hung = {"SLURM_CONF": str(private_conf(tmp_path, server.getsockname()[1]))}
        started = time.monotonic()
        listing = subprocess.Popen(
            [*REPRO, "runs"], cwd=project, env={**os.environ, **hung},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            # The records were read; Slurm is being asked. The job ends meanwhile.
            assert asked.wait(60), "repro runs never asked the controller"
            (project / "release").touch()
            until(lambda: record_of(run)["status"] == "succeeded", timeout=60)
            stdout, stderr = listing.communicate(timeout=120)
        finally:
            listing.kill()
            for connection in held:
                connection.close()
    took = time.monotonic() - started
    assert listing.returncode == 0, stderr
    assert took < 20, f"repro runs took {took:.0f} s with the controller hung"
    (row,) = [line for line in stdout.splitlines() if line.split()[0] == run.name]
    assert row.split()[3] == "succeeded", stdout
    assert "lost" not in stdout and "scheduler unreachable" not in stdout


def test_running_cluster_run_shows_its_metrics_so_far(waiting_run: tuple[Path, Path]) -> None:
    project, run = waiting_run
    listed = repro(project, "runs")
    assert listed.returncode == 0, listed.stderr
    header, _rule, row = listed.stdout.splitlines()[:3]
    assert header.split()[-1] == "loss"
    assert row.split()[3] == "running" and row.split()[-1] == "0.5"
    (entry,) = yaml.safe_load(repro(project, "runs", "--json").stdout)
    assert entry["metrics"]["loss"]["last"] == 0.5 and entry["metrics"]["loss"]["steps"] == 2
    assert "metrics" not in record_of(run) or not record_of(run)["metrics"]  # left to the run


def test_each_array_task_writes_its_job_log_into_its_own_run_folder(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--slurm", "--array", "3", "--wait", "train.py")
    assert result.returncode == 0, result.stderr
    runs = {record_of(run)["scheduler"]["array_index"]: run for run in run_dirs(project)}
    job = record_of(runs[0])["scheduler"]["job_id"]
    for index, run in runs.items():
        logs = sorted(path.name for path in run.glob("slurm-*.out"))
        assert logs == [f"slurm-{job}_{index}.out"], (index, logs)
