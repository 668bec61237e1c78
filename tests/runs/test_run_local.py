"""`repro run --local` end to end: the real CLI in a real git project."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from projects import REPRO, demo_project, git, repro
from reprostack.record.ids import RUN_ID_RE


def only_run(project: Path) -> Path:
    runs = [p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name)]
    assert len(runs) == 1, runs
    return runs[0]


def test_local_run_records_everything(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "train.py").write_text((project / "train.py").read_text() + "# edited\n")
    (project / "notes.txt").write_text("untracked\n")
    external = tmp_path / "hparams.json"
    external.write_text('{"lr": 0.5}')
    result = repro(
        project,
        "run",
        "--seed",
        "7",
        "train.py",
        "--config",
        "configs/base.yaml",
        str(external),
        env={"WANDB_API_KEY": "wandb-secret", "OMP_NUM_THREADS": "4", "HF_TOKEN": "hf-secret"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"train: seed 7 args ['--config', 'configs/base.yaml', '{external}']\n"
    assert "warning: to stderr" in result.stderr
    run = only_run(project)
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert record["id"] == run.name
    assert record["argv"] == ["train.py", "--config", "configs/base.yaml", str(external)]
    assert record["command"][0] == sys.executable
    assert (record["mode"], record["status"], record["exit_code"], record["seed"]) == (
        "local",
        "succeeded",
        0,
        7,
    )
    assert record["git_sha"] == git(project, "rev-parse", "HEAD")
    assert record["lock_hashes"] == {}  # the demo project has no lockfiles yet
    assert record["dirty"] is True
    assert record["started_at"] < record["ended_at"]
    assert (run / "stdout.log").read_text() == result.stdout
    assert (run / "stderr.log").read_text() == "warning: to stderr\n"
    assert json.loads((run / "outputs" / "metrics.json").read_text())["mean"] > 0
    patch = (run / "source.patch").read_text()
    assert "+# edited" in patch and "notes.txt" in patch and "runs/" not in patch
    assert (run / "config" / "base.yaml").read_text() == "lr: 0.1\nepochs: 2\n"
    assert (run / "config" / "hparams.json").read_text() == '{"lr": 0.5}'
    assert (run / "env" / "repro.yaml").is_file()
    fingerprint = json.loads((run / "fingerprint.json").read_text())
    assert fingerprint["git"]["sha"] == record["git_sha"]
    assert fingerprint["env"]["OMP_NUM_THREADS"] == "1"  # repro.yaml's env wins
    assert fingerprint["env"]["REPRO_SEED"] == "7"
    assert fingerprint["env"]["HF_TOKEN"] == "<redacted>"
    assert "WANDB_API_KEY" not in fingerprint["env"]  # pass_env: never recorded
    everything = "".join(p.read_text(errors="replace") for p in run.rglob("*") if p.is_file())
    assert "wandb-secret" not in everything and "hf-secret" not in everything


def test_exit_code_is_the_scripts_and_failure_is_recorded(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "train.py", env={"EXIT_WITH": "3"})
    assert result.returncode == 3
    record = yaml.safe_load((only_run(project) / "run.yaml").read_text())
    assert (record["status"], record["exit_code"]) == ("failed", 3)


def test_command_that_cannot_start_exits_125_with_a_record(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--", "no-such-command-xyz", "--flag")
    assert result.returncode == 125
    assert "cannot start 'no-such-command-xyz'" in result.stderr
    assert "Traceback" not in result.stderr
    record = yaml.safe_load((only_run(project) / "run.yaml").read_text())
    assert record["status"] == "failed"
    assert record["exit_code"] is None
    assert "no-such-command-xyz" in record["error"]


def test_malformed_config_exits_125_before_anything_runs(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "repro.yaml").write_text("name: demo\npython: 3.10\n")
    result = repro(project, "run", "train.py")
    assert result.returncode == 125
    assert result.stderr.startswith(
        "repro: error: repro.yaml:2: python: 3.10 is read by YAML as the number 3.1; quote it"
    )
    assert not (project / "runs").exists()


def test_sigint_reaches_the_child_and_the_record_says_interrupted(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "slow.py").write_text(
        "import sys, time\n"
        "try:\n    print('started', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
        "    print('child saw ctrl-c', flush=True)\n    sys.exit(130)\n"
    )
    proc = subprocess.Popen(
        [*REPRO, "run", "slow.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "child saw ctrl-c" in out
    record = yaml.safe_load((only_run(project) / "run.yaml").read_text())
    assert (record["status"], record["exit_code"]) == ("interrupted", 130)
    assert record["ended_at"] is not None


def test_twenty_parallel_runs_get_unique_ids(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "quick.py").write_text("print('ok')\n")
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: repro(project, "run", "quick.py"), range(20)))
    assert [r.returncode for r in results] == [0] * 20
    ids = [p.name for p in (project / "runs").iterdir()]
    assert len(ids) == len(set(ids)) == 20
    assert all(RUN_ID_RE.match(i) for i in ids)
    for run_id in ids:
        assert (
            yaml.safe_load((project / "runs" / run_id / "run.yaml").read_text())["status"]
            == "succeeded"
        )


def test_output_is_streamed_live(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "tick.py").write_text(
        "import time\nprint('first')\ntime.sleep(5)\nprint('second')\n"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [*REPRO, "run", "tick.py"], cwd=project, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "first\n"
    assert time.monotonic() - started < 4.5  # arrived before the script's sleep ended
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_no_git_repository_still_records(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    (project / "hello.py").write_text("print('hi')\n")
    result = repro(project, "run", "hello.py")
    assert result.returncode == 0
    run = only_run(project)
    assert json.loads((run / "fingerprint.json").read_text())["git"] is None
    assert (run / "source.patch").read_bytes() == b""


def test_a_seed_out_of_range_is_bad_usage_before_any_record(tmp_path: Path) -> None:
    # PYTHONHASHSEED takes 0..2**32-1: any other seed would start a run whose Python dies.
    project = demo_project(tmp_path / "p")
    modes = (["--local"], ["--dev"], ["--prod"], ["--slurm"], ["--slurm", "--array", "2"],
             ["--k8s"])  # fmt: skip
    for seed in ("-1", str(2**32), "-99999999999"):
        for mode in modes:
            result = repro(project, "run", *mode, "--seed", seed, "train.py")
            assert result.returncode == 2, (mode, seed, result.stderr)
            assert "Invalid value for '--seed'" in result.stderr
            assert "0<=x<=4294967295" in result.stderr
            assert not (project / "runs").exists(), (mode, seed)
    toy = repro(project, "data", "toy", "pets", "--seed", "-1")
    assert toy.returncode == 2 and "Invalid value for '--seed'" in toy.stderr
    # The ends of the range are seeds like any other.
    for seed in ("0", str(2**32 - 1)):
        ran = repro(project, "run", "--local", "--seed", seed, "--", "python", "-c",
                    "import os; print(os.environ['PYTHONHASHSEED'])")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == seed
