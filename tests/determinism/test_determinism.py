"""`repro run --deterministic`: the variables, the startup hook, the record, replay and diff."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from paths import TESTS
from projects import demo_project, git, repro, repro_in_process
from reprostack.determinism import (
    HOOK_DIR,
    REPORT_VARIABLE,
    SEED_VARIABLE,
    deterministic_env,
    read_report,
    settle,
)
from reprostack.record.diff import diff_determinism

PROBE = TESTS / "determinism" / "probe.py"


def project_with_probe(root: Path, repro_yaml: str | None = None) -> Path:
    project = demo_project(root)
    shutil.copy(PROBE, project / "probe.py")
    if repro_yaml is not None:
        (project / "repro.yaml").write_text(repro_yaml)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "probe")
    return project


def run_ids(project: Path) -> list[str]:
    """Run ids, oldest first (two ids of one second do not sort by time)."""
    result = repro_in_process(project, "runs", "--json")
    assert result.returncode == 0, result.stderr
    return [r["id"] for r in reversed(json.loads(result.stdout))]


def last_record(project: Path) -> dict[str, Any]:
    run = project / "runs" / run_ids(project)[-1]
    record: dict[str, Any] = yaml.safe_load((run / "run.yaml").read_text())
    return record


def probe_run(project: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = repro(project, "run", *args, "probe.py", env=env)
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout)
    return values


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path: Path) -> None:
    pytest.importorskip("numpy", reason="numpy is in the test extras: pip install -e '.[test]'")
    project = project_with_probe(tmp_path / "p")
    first = probe_run(project, "--deterministic", "--seed", "3")
    second = probe_run(project, "--deterministic", "--seed", "3")
    other = probe_run(project, "--deterministic", "--seed", "4")
    assert first == second
    for key in ("random", "numpy", "hash"):
        assert first[key] != other[key], key
    assert first["env"] == {"PYTHONHASHSEED": "3", "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
                            "TF_DETERMINISTIC_OPS": "1", "TF_CUDNN_DETERMINISTIC": "1"}  # fmt: skip
    # Without --deterministic the same seed leaves the generators unseeded.
    plain = [probe_run(project, "--seed", "3") for _ in range(2)]
    assert plain[0]["random"] != plain[1]["random"] != first["random"]
    record = last_record(project)
    assert record["determinism"] is None


def test_record_says_what_was_applied_and_what_was_not(tmp_path: Path) -> None:
    pytest.importorskip("numpy", reason="numpy is in the test extras: pip install -e '.[test]'")
    project = project_with_probe(tmp_path / "p")
    probe_run(project, "--deterministic", "--seed", "3")
    record = last_record(project)
    block = record["determinism"]
    assert record["seed"] == 3
    assert block["seed"] == 3
    assert block["env"] == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": "3",
                            "TF_CUDNN_DETERMINISTIC": "1", "TF_DETERMINISTIC_OPS": "1"}  # fmt: skip
    assert block["applied"]["random"] == ["seed"]
    assert block["applied"]["numpy"] == ["seed"]
    assert block["processes"] == 1
    torch_installed = _installed("torch")
    expected = "never imported by the command" if torch_installed else "not installed"
    assert block["not_applied"] == {"torch": expected}


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True


def test_torch_is_seeded_and_made_deterministic(tmp_path: Path) -> None:
    pytest.importorskip(
        "torch",
        reason="LOUD SKIP: torch is not installed in this venv, so torch seeding is untested "
        "here; `pip install torch` (CPU is enough) runs it; bench/gpu_check.py covers GPUs",
    )
    project = project_with_probe(tmp_path / "p")
    env = {"PROBE_TORCH": "1"}
    first = probe_run(project, "--deterministic", "--seed", "3", env=env)
    second = probe_run(project, "--deterministic", "--seed", "3", env=env)
    other = probe_run(project, "--deterministic", "--seed", "4", env=env)
    assert first == second
    assert first["torch"] != other["torch"]
    assert first["torch_deterministic"] is True
    assert first["cudnn"] == [False, True]
    block = last_record(project)["determinism"]
    assert block["applied"]["torch"] == [
        "manual_seed", "cuda.manual_seed_all", "use_deterministic_algorithms",
        "cudnn.benchmark=False", "cudnn.deterministic=True",
    ]  # fmt: skip
    assert "torch" not in block["not_applied"]


def hook_env(tmp_path: Path, seed: int = 3, pythonpath: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env.update(deterministic_env(seed, env, hook_dir=str(HOOK_DIR),
                                 report=str(tmp_path / "report.jsonl")))  # fmt: skip
    return env


def test_the_hook_imports_nothing_heavy_at_start(tmp_path: Path) -> None:
    code = "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('numpy', 'torch', 'random', 'typing', 'json')))"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], env=hook_env(tmp_path),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
    entries = read_report(tmp_path / "report.jsonl")
    assert [(e["library"], e["applied"]) for e in entries] == [("python", ["startup hook"])]


def test_the_hook_runs_the_sitecustomize_it_shadows(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = 'yes'\n")
    code = "import os, random, sitecustomize; print(os.environ.get('THEIRS_RAN'), " \
           "sitecustomize.__file__, random.random())"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=hook_env(tmp_path, pythonpath=str(theirs)), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ran, where, value = done.stdout.split()
    assert (ran, where) == ("yes", str(theirs / "sitecustomize.py"))
    import random

    assert float(value) == random.Random(3).random()


def test_a_command_without_python_is_recorded_as_such(tmp_path: Path) -> None:
    project = project_with_probe(tmp_path / "p")
    result = repro(project, "run", "--deterministic", "--", "sh", "-c", "echo $PYTHONHASHSEED")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0\n"  # no --seed: a deterministic run uses (and records) seed 0
    record = last_record(project)
    assert record["seed"] == 0
    block = record["determinism"]
    assert block["applied"] == {}
    assert block["processes"] == 0
    assert set(block["not_applied"]) == {"random", "numpy", "torch"}
    assert all("startup hook never ran" in why for why in block["not_applied"].values())


def test_repro_yaml_turns_it_on_diff_shows_it_replay_keeps_it(tmp_path: Path) -> None:
    project = project_with_probe(tmp_path / "p")
    base = (project / "repro.yaml").read_text()
    first = probe_run(project, "--seed", "5")
    (project / "repro.yaml").write_text(base + "  deterministic: true\n")
    git(project, "commit", "-qam", "deterministic")
    second = probe_run(project, "--seed", "5")
    assert first["random"] != second["random"]
    runs = run_ids(project)
    shown = repro_in_process(project, "diff", runs[0], runs[1])
    assert shown.returncode == 0, shown.stderr
    assert "determinism:\n  determinism: off -> on (seed 5)" in shown.stdout
    replayed = repro(project, "replay", "last")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == second
    record = last_record(project)
    assert record["replay_of"] == runs[1]
    assert (record["seed"], record["determinism"]["seed"]) == (5, 5)
    assert record["determinism"]["applied"]["random"] == ["seed"]
    same = repro_in_process(project, "diff", runs[1], "last")
    assert same.returncode == 0, same.stderr
    assert "determinism" not in same.stdout


def test_run_deterministic_must_be_a_boolean(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "repro.yaml").write_text("name: demo\nrun:\n  deterministic: yes please\n")
    result = repro(project, "run", "--", "true")
    assert result.returncode == 125  # every failure before the command starts
    assert "repro.yaml:3: run.deterministic: expected true or false" in result.stderr


def test_variables_keep_a_valid_cublas_setting_and_the_pythonpath() -> None:
    env = deterministic_env(7, {"CUBLAS_WORKSPACE_CONFIG": ":16:8", "PYTHONPATH": "/src"},
                            hook_dir="/hook", report="/run/determinism.jsonl")  # fmt: skip
    assert env == {
        "PYTHONHASHSEED": "7", "CUBLAS_WORKSPACE_CONFIG": ":16:8", "TF_DETERMINISTIC_OPS": "1",
        "TF_CUDNN_DETERMINISTIC": "1", "PYTHONPATH": f"/hook{os.pathsep}/src",
        SEED_VARIABLE: "7", REPORT_VARIABLE: "/run/determinism.jsonl",
    }  # fmt: skip
    wrong = deterministic_env(7, {"CUBLAS_WORKSPACE_CONFIG": ":0:0"}, hook_dir="/h", report="/r")
    assert (wrong["CUBLAS_WORKSPACE_CONFIG"], wrong["PYTHONPATH"]) == (":4096:8", "/h")


def test_settle_reports_failures_and_merges_processes() -> None:
    block = {"seed": 1, "env": {}, "applied": {}, "not_applied": {}}
    entries = [
        {"pid": 10, "library": "python", "applied": ["startup hook"], "failed": {}},
        {"pid": 10, "library": "random", "applied": ["seed"], "failed": {}},
        {"pid": 11, "library": "python", "applied": ["startup hook"], "failed": {}},
        {"pid": 11, "library": "torch", "applied": ["manual_seed"],
         "failed": {"use_deterministic_algorithms": "AttributeError: no such call"}},
    ]  # fmt: skip
    settled = settle(block, entries, ["torch"])
    assert settled["applied"] == {"random": ["seed"], "torch": ["manual_seed"]}
    assert settled["not_applied"] == {
        "numpy": "not installed",
        "torch": "use_deterministic_algorithms failed: AttributeError: no such call",
    }
    assert settled["processes"] == 2


def test_diff_of_determinism_blocks() -> None:
    on = {"seed": 3, "env": {"PYTHONHASHSEED": "3"}, "applied": {"random": ["seed"]},
          "not_applied": {}}  # fmt: skip
    assert diff_determinism(None, None) == []
    assert diff_determinism(on, None) == ["determinism: on (seed 3) -> off"]
    other = {**on, "seed": 4, "env": {"PYTHONHASHSEED": "4"}}
    assert diff_determinism(on, other) == [
        "determinism.env.PYTHONHASHSEED: 3 -> 4",
        "determinism.seed: 3 -> 4",
    ]


@pytest.mark.engine
def test_deterministic_dev_run_in_a_real_container(tmp_path: Path, base_image: str) -> None:
    from reprostack.config import load_config
    from reprostack.record.request import RunRequest
    from reprostack.runs.container import run_in_container

    project = project_with_probe(tmp_path / "p")
    config = load_config(project)
    outputs = []
    for seed in (3, 3, 4):
        out_path = tmp_path / f"out-{len(outputs)}"
        with out_path.open("wb") as out, (tmp_path / "err").open("wb") as err:
            record = run_in_container(
                config,
                RunRequest(argv=["probe.py"], mode="dev", cwd=project, seed=seed,
                           deterministic=True),
                image_ref=base_image, stdout=out, stderr=err,
            )  # fmt: skip
        assert (record.status, record.exit_code) == ("succeeded", 0), (tmp_path / "err").read_text()
        outputs.append(json.loads(out_path.read_text()))
        assert record.determinism is not None
        assert record.determinism["applied"] == {"random": ["seed"]}
        assert record.determinism["not_applied"] == {"numpy": "not installed",
                                                     "torch": "not installed"}  # fmt: skip
    assert outputs[0] == outputs[1]
    assert outputs[0]["random"] != outputs[2]["random"]
    assert outputs[0]["numpy"] == "absent"
    assert outputs[0]["env"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
