"""Runs logged to a real MLflow server, read back with the MLflow client; a tracker that is down.

The server is the session's ``mlflow_server`` (tests/mlflow_server.py): SQLite on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlflow_server import MlflowServer
from paths import ROOT, TESTS
from projects import make_repo, repro, repro_in_process

EXAMPLE = ROOT / "examples" / "quickstart"


def tracked_example(tmp_path: Path, uri: str) -> tuple[Path, str]:
    """The quickstart in a git repo, logging to ``uri`` under a fresh experiment name."""
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, root)
    experiment = f"quickstart-{uuid.uuid4().hex[:8]}"
    with (root / "repro.yaml").open("a") as handle:
        handle.write(f"tracking:\n  mlflow: {{uri: '{uri}', experiment: {experiment}}}\n")
    make_repo(root, {".gitignore": "runs/\noutputs/\n"})
    return root, experiment


def only_record(root: Path) -> tuple[Path, dict[str, Any]]:
    (folder,) = (root / "runs").iterdir()
    return folder, yaml.safe_load((folder / "run.yaml").read_text())


def runs_of(client: MlflowClient, experiment: str, run_id: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(
        client.search_runs([found.experiment_id], filter_string=f"tags.`repro.run_id` = '{run_id}'")
    )


def test_a_finished_run_reaches_mlflow_whole_and_once(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    root, experiment = tracked_example(tmp_path, mlflow_server.url)
    gpu = {
        "PATH": f"{TESTS / 'fake_bin'}:{os.environ['PATH']}",
        "FAKE_NVIDIA_SMI_CASE": str(TESTS / "fixtures" / "nvidia-smi" / "r555-2x-l4"),
    }
    result = repro(
        root, "run", "--seed", "0", "train.py", "--config", "configs/base.json", "lr=0.01", env=gpu
    )
    assert result.returncode == 0, result.stderr
    assert "not synced" not in result.stderr
    folder, record = only_record(root)
    state = record["tracking"]["mlflow"]
    assert state["synced"] is True
    assert state["uri"] == mlflow_server.url
    assert state["experiment"] == experiment

    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == record["id"]
    assert run.data.params == {
        "samples": "200",
        "epochs": "10",
        "lr": "0.01",
        "true_w": "2.0",
        "true_b": "-0.5",
    }
    lines = [json.loads(line) for line in (folder / "outputs" / "metrics.jsonl").open()]
    history = client.get_metric_history(state["run_id"], "loss")
    assert [(m.step, m.value) for m in history] == [(ln["step"], ln["loss"]) for ln in lines]
    assert len(client.get_metric_history(state["run_id"], "w_error")) == 10
    tags = run.data.tags
    fingerprint = json.loads((folder / "fingerprint.json").read_text())
    assert tags["repro.run_id"] == record["id"]
    assert tags["repro.git.sha"] == record["git_sha"] == tags["mlflow.source.git.commit"]
    assert tags["repro.git.dirty"] == "false"
    assert tags["repro.status"] == "succeeded"
    assert tags["repro.nvidia.driver"] == fingerprint["nvidia"]["driver_version"]
    assert tags["repro.gpus"] == ", ".join(g["name"] for g in fingerprint["nvidia"]["gpus"])
    assert tags["repro.gpus"].count("L4") == 2
    artifacts = sorted(a.path for a in client.list_artifacts(state["run_id"]))
    assert artifacts == ["fingerprint.json", "run.yaml", "source.patch"]
    copy = client.download_artifacts(state["run_id"], "run.yaml", str(tmp_path))
    assert yaml.safe_load(Path(copy).read_text())["id"] == record["id"]

    # A second sync creates nothing, whether the record knows it was sent or not.
    again = repro(root, "sync")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "nothing to sync: every finished run is in the tracker\n"
    named = repro(root, "sync", "last")
    assert named.returncode == 0, named.stderr
    assert named.stdout == f"{record['id']}  already synced (mlflow run {state['run_id']})\n"
    record["tracking"] = None  # as if repro died after sending, before writing run.yaml
    (folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    forgotten = repro(root, "sync")
    assert forgotten.returncode == 0, forgotten.stderr
    assert forgotten.stdout == f"{record['id']}  synced (mlflow run {state['run_id']})\n"
    assert len(runs_of(client, experiment, record["id"])) == 1


def test_a_tracker_that_is_down_never_fails_a_run(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    root, experiment = tracked_example(tmp_path, mlflow_server.url)
    mlflow_server.stop()
    try:
        result = repro(root, "run", "train.py", "--config", "configs/base.json")
        assert result.returncode == 0, result.stderr
        assert "repro: not synced to MLflow: the MLflow server at" in result.stderr
        assert "`repro sync` sends it later" in result.stderr
        _, record = only_record(root)
        assert record["status"] == "succeeded"
        assert record["metrics"]["loss"]["steps"] == 10  # the run's own record is whole
        state = record["tracking"]["mlflow"]
        assert state["synced"] is False
        assert state["run_id"] is None
        assert "does not answer" in state["error"]

        while_down = repro(root, "sync")
        assert while_down.returncode == 3
        assert f"{record['id']}  failed: the MLflow server at" in while_down.stdout
        assert "repro: error: 1 run(s) not synced" in while_down.stderr
    finally:
        mlflow_server.start()

    back = repro(root, "sync")
    assert back.returncode == 0, back.stderr
    _, record = only_record(root)
    state = record["tracking"]["mlflow"]
    assert back.stdout == f"{record['id']}  synced (mlflow run {state['run_id']})\n"
    assert state["synced"] is True
    client = MlflowClient(tracking_uri=mlflow_server.url)
    assert len(client.get_metric_history(state["run_id"], "loss")) == 10
    assert repro(root, "sync").stdout == "nothing to sync: every finished run is in the tracker\n"
    assert len(runs_of(client, experiment, record["id"])) == 1


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ("{mlflow: {experiment: x}}", "tracking.mlflow.uri: missing"),
        ("{mlflow: {uri: 'http://u:pw@host:5000'}}", "tracking.mlflow.uri: holds credentials"),
        ("{wandb: {}}", "tracking.wandb: unknown key"),
    ],
)
def test_tracking_config_errors(tmp_path: Path, tracking: str, message: str) -> None:
    make_repo(tmp_path, {"repro.yaml": f"name: demo\ntracking: {tracking}\n"})
    result = repro_in_process(tmp_path, "sync")
    assert result.returncode == 2
    assert message in result.stderr
    assert "u:pw" not in result.stderr  # the message never repeats the secret


def test_sync_without_a_tracker_says_how_to_add_one(tmp_path: Path) -> None:
    make_repo(tmp_path, {"repro.yaml": "name: demo\n"})
    result = repro_in_process(tmp_path, "sync")
    assert result.returncode == 2
    assert result.stderr == (
        "repro: error: no tracker in repro.yaml\n"
        "hint: add: tracking: {mlflow: {uri: http://HOST:5000, experiment: NAME}}\n"
    )


def test_sync_goes_on_past_a_damaged_record(tmp_path: Path) -> None:
    from mlflow_server import free_port

    uri = f"http://127.0.0.1:{free_port()}"  # nobody listens: fails fast, no retries
    root = make_repo(
        tmp_path, {"repro.yaml": f"name: demo\ntracking: {{mlflow: {{uri: '{uri}'}}}}\n"}
    )
    damaged = root / "runs" / "20260101-120000-dddd"
    damaged.mkdir(parents=True)
    (damaged / "run.yaml").write_text("- not\n- a record\n")
    good = root / "runs" / "20260101-130000-eeee"
    good.mkdir()
    (good / "run.yaml").write_text(
        yaml.safe_dump({"id": good.name, "argv": ["x"], "mode": "local", "status": "succeeded"})
    )
    result = repro_in_process(root, "sync")
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[0].startswith("20260101-120000-dddd  skipped: run.yaml not readable")
    assert lines[1].startswith(f"20260101-130000-eeee  failed: the MLflow server at {uri}")
    assert "repro: error: 2 run(s) not synced" in result.stderr
    state = yaml.safe_load((good / "run.yaml").read_text())["tracking"]["mlflow"]
    assert state["synced"] is False
    assert state["experiment"] == "demo"  # the project's name when none is given


HOSTILE_NAMES = """\
import json, os
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
with (out / "metrics.jsonl").open("w") as handle:
    for step in range(3):
        handle.write(json.dumps({"step": step, "loss": 1.0 / (step + 1), "m" * 300: step}) + "\\n")
"""


def all_runs_of(client: MlflowClient, experiment: str, run_id: str) -> list[Any]:
    """Every MLflow run tagged with ``run_id``, deleted ones included."""
    from mlflow.entities import ViewType

    found = client.get_experiment_by_name(experiment)
    if found is None:  # not created yet: nothing was sent
        return []
    return list(
        client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`repro.run_id` = '{run_id}'",
            run_view_type=ViewType.ALL,
        )
    )


def test_what_mlflow_refuses_is_shortened_and_said_and_sync_stays_one_run(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    root, experiment = tracked_example(tmp_path, mlflow_server.url)
    (root / "hostile.py").write_text(HOSTILE_NAMES)
    (root / "configs" / "wide.json").write_text(json.dumps({"k" * 300: 1, "long": "v" * 7000}))
    result = repro(root, "run", "hostile.py", "--config", "configs/wide.json")
    assert result.returncode == 0, result.stderr
    folder, record = only_record(root)
    state = record["tracking"]["mlflow"]
    assert state["synced"] is True, state["error"]
    notes = state["notes"]
    assert any(n.startswith("metric 'mmm") and "a name MLflow refuses" in n for n in notes)
    assert any(n.startswith("param 'kkk") and "a name MLflow refuses" in n for n in notes)
    assert "param 'long': value cut to 6000 characters" in notes
    assert all(len(note) < 200 for note in notes)

    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED"
    (long_metric,) = (key for key in run.data.metrics if key.startswith("mmm"))
    assert len(long_metric) == 250
    assert len(client.get_metric_history(state["run_id"], long_metric)) == 3
    assert len(run.data.params["long"]) == 6000
    for _ in range(3):  # each try finds the same run: none is added, none left RUNNING
        record["tracking"] = None
        (folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        again = repro(root, "sync", "last")
        assert again.returncode == 0, again.stderr
    (only,) = all_runs_of(client, experiment, record["id"])
    assert only.info.run_id == state["run_id"]
    assert only.info.status == "FINISHED"
    assert len(client.get_metric_history(state["run_id"], "loss")) == 3


MANY_METRICS = """\
import json, os
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
with (out / "metrics.jsonl").open("w") as handle:
    for step in range(1000):
        handle.write(json.dumps({"step": step, **{f"m{i}": step * i for i in range(30)}}) + "\\n")
"""


def test_a_failed_sync_marks_its_mlflow_run_failed_and_the_next_one_completes_it(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    import signal
    import subprocess
    import time

    from projects import REPRO

    root, experiment = tracked_example(tmp_path, mlflow_server.url)
    (root / "many.py").write_text(MANY_METRICS)
    settings = (root / "repro.yaml").read_text()
    (root / "repro.yaml").write_text(settings.split("tracking:")[0])  # the run is not sent
    result = repro(root, "run", "many.py")
    assert result.returncode == 0, result.stderr
    (root / "repro.yaml").write_text(settings)
    folder, record = only_record(root)
    client = MlflowClient(tracking_uri=mlflow_server.url)
    # Cut the send short, as a dead connection or Ctrl-C would, once its MLflow run holds
    # part of the metrics.
    sending = subprocess.Popen(
        [*REPRO, "sync", "last"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = [r for r in all_runs_of(client, experiment, record["id"])
                if r.info.lifecycle_stage == "active"]  # fmt: skip
        if runs and len(client.get_metric_history(runs[0].info.run_id, "m0")) > 0:
            break
        time.sleep(0.05)
    sending.send_signal(signal.SIGINT)
    sending.communicate(timeout=60)
    assert sending.returncode == 130
    (cut,) = (r for r in all_runs_of(client, experiment, record["id"])
              if r.info.lifecycle_stage == "active")  # fmt: skip
    assert cut.info.status == "FAILED"
    state = yaml.safe_load((folder / "run.yaml").read_text())["tracking"]["mlflow"]
    assert state["synced"] is False
    assert state["run_id"] == cut.info.run_id

    again = repro(root, "sync", "last")
    assert again.returncode == 0, again.stderr
    state = yaml.safe_load((folder / "run.yaml").read_text())["tracking"]["mlflow"]
    assert state["run_id"] == cut.info.run_id
    run = client.get_run(cut.info.run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(cut.info.run_id, "m29")) == 1000  # none doubled
    assert len(client.get_metric_history(cut.info.run_id, "m0")) == 1000
    active = [r for r in all_runs_of(client, experiment, record["id"])
              if r.info.lifecycle_stage == "active"]  # fmt: skip
    assert [r.info.run_id for r in active] == [cut.info.run_id]


def test_an_interrupted_run_says_how_to_send_it_once(tmp_path: Path) -> None:
    from mlflow_server import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    script = "import os, signal, time\nos.kill(os.getppid(), signal.SIGINT)\ntime.sleep(30)\n"
    root = make_repo(
        tmp_path,
        {
            "repro.yaml": f"name: demo\ntracking: {{mlflow: {{uri: '{uri}'}}}}\n",
            "stop.py": script,
            ".gitignore": "runs/\n",
        },
    )
    result = repro(root, "run", "stop.py")
    assert result.returncode == 130, result.stderr
    assert "repro: not synced to MLflow: interrupted run: not sent" in result.stderr
    assert result.stderr.count("repro sync") == 1
