"""Container runs on a real engine: records, uid, mounts, exit codes, no leftover containers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import demo_project
from reprostack.config import load_config
from reprostack.engine import GpuRequest, Mount
from reprostack.errors import EnvironmentMissing, UsageError
from reprostack.record.request import RunRequest
from reprostack.runs.container import run_in_container, volumes_for, workdir_for
from reprostack.runs.gpus import device_requests, gpu_visibility
from socket_proxy import SocketProxy


def test_gpu_requests() -> None:
    assert device_requests("auto", has_nvidia_runtime=False) == []
    assert device_requests("none", has_nvidia_runtime=True) == []
    assert device_requests("auto", has_nvidia_runtime=True) == [GpuRequest(count=-1)]
    assert device_requests("2", has_nvidia_runtime=True) == [GpuRequest(count=2)]
    assert device_requests('"device=0,3"', True) == [GpuRequest(device_ids=("0", "3"))]
    assert [gpu_visibility(r) for r in ("none", "auto", "all", "2", "device=1,3")] == [
        "", None, None, "0,1", "1,3",
    ]  # fmt: skip
    with pytest.raises(UsageError):
        gpu_visibility("two")
    with pytest.raises(EnvironmentMissing) as caught:
        device_requests("all", has_nvidia_runtime=False)
    assert caught.value.exit_code == 3
    assert "NVIDIA Container Toolkit" in (caught.value.hint or "")


def test_volumes_and_workdir(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    data = tmp_path / "imagenet"
    data.mkdir()
    config = load_config(project)
    request = RunRequest(
        argv=["train.py", str(data), "--out=/nonexistent/x"],
        mode="dev",
        mounts=[f"{tmp_path}/cache:/cache:ro"],
        cwd=project / "configs",
    )
    volumes = volumes_for(config, request, project / "runs" / "x")
    assert volumes == (
        Mount(str((project / "runs" / "x").resolve()), "/repro/run"),
        Mount(str(project.resolve()), "/workspace"),
        Mount(str((tmp_path / "cache").resolve()), "/cache", read_only=True),
        Mount(str(data.resolve()), str(data.resolve()), read_only=True),
    )
    assert workdir_for(config, request) == "/workspace/configs"


def leftover_containers(client: Any, run_id: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"dev.reprostack.run={run_id}"}))


@pytest.mark.engine
def test_dev_run_in_a_real_container(tmp_path: Path, base_image: str, docker_client: Any) -> None:
    project = demo_project(tmp_path / "p")
    config = load_config(project)
    (project / "whoami.py").write_text(
        "import json, os, sys\n"
        "out = os.environ['REPRO_OUTPUT_DIR']\n"
        "open(os.path.join(out, 'who.json'), 'w').write(json.dumps([os.getuid(), os.getcwd()]))\n"
        "print('hello from', sys.version_info[:2]); print('oops', file=sys.stderr)\n"
        "sys.exit(4)\n"
    )
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        record = run_in_container(
            config, RunRequest(argv=["whoami.py"], mode="dev", cwd=project),
            image_ref=base_image, stdout=out, stderr=err,
        )  # fmt: skip
    assert (record.status, record.exit_code) == ("failed", 4)
    folder = config.runs_dir / record.id
    assert out_path.read_text() == "hello from (3, 11)\n" == (folder / "stdout.log").read_text()
    assert (folder / "stderr.log").read_text() == "oops\n"
    uid, cwd = json.loads((folder / "outputs" / "who.json").read_text())
    assert (uid, cwd) == (os.getuid(), "/workspace")
    assert (folder / "outputs" / "who.json").stat().st_uid == os.getuid()
    saved = yaml.safe_load((folder / "run.yaml").read_text())
    assert saved["image"]["id"].startswith("sha256:")
    assert saved["mode"] == "dev"
    fp = json.loads((folder / "fingerprint.json").read_text())
    assert fp["python"]["executable"] == "/usr/bin/python3"  # the container's Python
    assert fp["container"]["image_id"] == saved["image"]["id"]
    assert fp["git"]["branch"] == "main"  # the host's git
    assert leftover_containers(docker_client, record.id) == []


@pytest.mark.engine
def test_sigint_stops_the_container_and_leaves_none(tmp_path: Path, base_image: str,
                                                   docker_client: Any) -> None:  # fmt: skip
    project = demo_project(tmp_path / "p")
    (project / "sleepy.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    )
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from reprostack.config import load_config\n"
        "from reprostack.runs.container import run_in_container\n"
        "from reprostack.record.request import RunRequest\n"
        f"config = load_config(Path({str(project)!r}))\n"
        "record = run_in_container(config, RunRequest(argv=['sleepy.py'], mode='dev', "
        f"cwd=config.root), image_ref={base_image!r})\n"
        "print('RECORD', record.id, record.status, record.exit_code, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGINT)
    timer = threading.Timer(60, proc.kill)
    timer.start()
    out, _ = proc.communicate()
    timer.cancel()
    _, run_id, status, _code = out.split()
    assert status == "interrupted"
    assert leftover_containers(docker_client, run_id) == []


def test_a_malformed_volume_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from reprostack.cli import cli

    project = demo_project(tmp_path / "p")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["run", "--dev", "-v", "data:relative", "train.py"])
    assert result.exit_code == 2
    assert "'data:relative' is not a mount SRC:/DST[:ro|rw] with an absolute target" in (
        result.output
    )
    assert not (project / "runs").exists()


def _container_run_script(project: Path, base_image: str, script: str) -> str:
    """A Python program that runs ``script`` of ``project`` in a dev container and prints
    ``RECORD id status exit_code`` (a process of its own: the tests signal or starve it)."""
    return (
        "import sys\nfrom pathlib import Path\n"
        "from reprostack.config import load_config\n"
        "from reprostack.runs.container import run_in_container\n"
        "from reprostack.runs.local import exit_status\n"
        "from reprostack.record.request import RunRequest\n"
        f"config = load_config(Path({str(project)!r}))\n"
        f"record = run_in_container(config, RunRequest(argv=[{script!r}], mode='dev', "
        f"cwd=config.root), image_ref={base_image!r})\n"
        "print('RECORD', record.id, record.status, record.exit_code, flush=True)\n"
        "sys.exit(exit_status(record))\n"
    )


def _wait_for(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


@pytest.mark.engine
def test_kill_9_of_repro_stops_the_container_and_closes_the_record(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project = demo_project(tmp_path / "p")
    (project / "sleepy.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    )
    script = _container_run_script(project, base_image, "sleepy.py")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    (run_id,) = [p.name for p in (project / "runs").iterdir()]
    assert len(leftover_containers(docker_client, run_id)) == 1
    proc.kill()
    proc.wait()
    # Nothing runs unattended: the watchdog stops and removes the container...
    assert _wait_for(lambda: leftover_containers(docker_client, run_id) == [], 30)
    # ...and closes the record, which says what happened.
    run_yaml = project / "runs" / run_id / "run.yaml"
    assert _wait_for(lambda: yaml.safe_load(run_yaml.read_text())["status"] != "running", 10)
    record = yaml.safe_load(run_yaml.read_text())
    assert record["status"] == "interrupted"
    assert f"repro (pid {proc.pid}) died while the command ran" in record["error"]
    assert "watchdog stopped and removed container" in record["error"]
    assert any("may be incomplete" in note for note in record["notes"])


@pytest.mark.engine
def test_a_lost_engine_closes_the_record_and_stops_the_container(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    engine_socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not engine_socket.startswith("unix://"):
        pytest.skip("the engine is not on a Unix socket: no proxy to cut")
    proxy = SocketProxy(tmp_path / "engine.sock", engine_socket.removeprefix("unix://"))
    proxy.start()
    project = demo_project(tmp_path / "p")
    (project / "counter.py").write_text(
        "import time\nfor i in range(30):\n    print('line', i, flush=True)\n    time.sleep(0.3)\n"
    )
    script = _container_run_script(project, base_image, "counter.py")
    env = {**os.environ, "DOCKER_HOST": proxy.docker_host}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "line 0\n"
    (run_id,) = [p.name for p in (project / "runs").iterdir()]
    proxy.cut()  # the daemon "restarts": every connection drops, nothing answers for a while
    time.sleep(2)
    proxy.start()
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proxy.cut()
    assert proc.returncode == 255, err  # the command had started: not 125
    assert f"RECORD {run_id} failed None" in out
    record = yaml.safe_load((project / "runs" / run_id / "run.yaml").read_text())
    assert record["status"] == "failed" and record["exit_code"] is None
    assert "lost the Docker engine" in record["error"]
    assert "(container " in record["error"]
    assert any("may be incomplete" in note for note in record["notes"])
    assert any("stopped and removed once the engine answered again" in n for n in record["notes"])
    assert leftover_containers(docker_client, run_id) == []


@pytest.mark.engine
def test_log_metrics_imports_in_an_image_without_reprostack(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    """The docs' `from reprostack import log_metrics` works in a dev run of an image that
    does not install reprostack (a read-only shim on PYTHONPATH), and the metric reaches
    run.yaml."""
    project = demo_project(tmp_path / "p")
    config = load_config(project)
    (project / "logs.py").write_text(
        "from reprostack import log_metrics\n"
        "log_metrics({'loss': 0.25}, step=1)\n"
        "log_metrics({'loss': 0.125}, step=2)\n"
    )
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        record = run_in_container(
            config, RunRequest(argv=["logs.py"], mode="dev", cwd=project),
            image_ref=base_image, stdout=out, stderr=err,
        )  # fmt: skip
    assert (record.status, record.exit_code) == ("succeeded", 0), err_path.read_text()
    saved = yaml.safe_load((config.runs_dir / record.id / "run.yaml").read_text())
    assert saved["metrics"]["loss"]["last"] == 0.125
    # The helper is repro's own file: never one of the run's inputs.
    inputs = config.runs_dir / record.id / "inputs.json"
    assert "reprostack-shim" not in (inputs.read_text() if inputs.exists() else "")
    assert leftover_containers(docker_client, record.id) == []


def test_the_shim_gives_way_to_an_installed_reprostack(tmp_path: Path) -> None:
    """An image that installs reprostack gets its own package, not the shim's two names."""
    from reprostack.experiments.shim import shim_mounts

    shim_root = tmp_path / "opt" / "reprostack-shim"
    for mount in shim_mounts():
        target = tmp_path / mount.target.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(mount.source).read_bytes())
    installed = tmp_path / "site" / "reprostack"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("WHO = 'installed'\n")
    (installed / "cli.py").write_text("NAME = 'cli'\n")
    probe = "import reprostack, reprostack.cli; print(reprostack.WHO, reprostack.cli.NAME)"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{shim_root}:{installed.parent}"}
    shown = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, cwd=tmp_path)  # fmt: skip
    assert shown.stdout == "installed cli\n", shown.stderr
    # Without one, the shim's log_metrics writes where the run's outputs are.
    env["PYTHONPATH"] = str(shim_root)
    env["REPRO_OUTPUT_DIR"] = str(tmp_path / "outputs")
    logged = subprocess.run(
        [sys.executable, "-c", "from reprostack import log_metrics; log_metrics({'acc': 1})"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    assert (tmp_path / "outputs" / "metrics.jsonl").read_text() == '{"acc": 1.0}\n'
