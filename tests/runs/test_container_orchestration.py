"""Container runs and replays on the fake engine: what is asked of the engine, what is recorded.

Real containers are run by tests/runs/test_run_container.py and tests/test_e2e_replay.py; these
check the orchestration around them, including what an engine cannot be made to do on purpose
(a terminal that goes away mid-run, an image that differs from the record).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from projects import demo_project
from reprostack.config import Config, load_config
from reprostack.engine import Completed, ContainerSpec
from reprostack.errors import CheckFailed
from reprostack.image.fingerprint import PROBE_SCRIPT
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, read_fingerprint, read_record
from reprostack.replay.image import replay_image
from reprostack.runs.container import run_in_container

IMAGE = "localhost/repro-demo:dev-0123456789ab"
INSIDE = {"python": {"version": "3.11.2"}, "packages": {"alpha": "1.0.0"}, "cuda": None}


pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test


class ClosedConsole:
    """A terminal that went away: every write fails, as on a dropped ssh session."""

    def write(self, _data: bytes) -> int:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")


def _engine(output: bytes, code: int = 0) -> tuple[FakeEngine, list[ContainerSpec]]:
    commands: list[ContainerSpec] = []

    def answer(spec: ContainerSpec) -> Completed:
        if spec.command[-1] == PROBE_SCRIPT:  # the fingerprint's and the SBOM's facts
            return Completed(0, json.dumps({**INSIDE, "libraries": []}).encode() + b"\n", b"")
        commands.append(spec)
        return Completed(code, output, b"a warning\n")

    engine = FakeEngine(handler=answer)
    engine.add_image(IMAGE, labels={"dev.reprostack.base": "debian@sha256:" + "b" * 64})
    return engine, commands


def test_a_container_run_is_recorded_and_the_container_removed(tmp_path: Path) -> None:
    config = load_config(demo_project(tmp_path / "p"))
    engine, commands = _engine(b"epoch 1\n")
    record = run_in_container(
        config, RunRequest(argv=["train.py", "--lr", "0.1"], mode="dev", cwd=config.root),
        image_ref=IMAGE, stdout=ClosedConsole(), stderr=ClosedConsole(),  # type: ignore[arg-type]
        engine=engine,
    )  # fmt: skip
    assert record.status == "succeeded" and record.exit_code == 0
    [spec] = commands
    assert spec.command == ("python3", "train.py", "--lr", "0.1")
    assert spec.init and spec.labels == {"dev.reprostack.run": record.id}
    assert spec.workdir == "/workspace" and spec.gpus == ()
    assert {m.target for m in spec.mounts} >= {"/repro/run", "/workspace"}
    assert all(container.removed for container in engine.containers)
    folder = config.runs_dir / record.id
    # The terminal was gone; the logs still hold everything.
    assert (folder / "stdout.log").read_bytes() == b"epoch 1\n"
    assert (folder / "stderr.log").read_bytes() == b"a warning\n"
    image = engine.image(IMAGE)
    assert image is not None
    assert read_record(folder).image == {
        "id": image.id, "digest": None, "repository": None, "tag": IMAGE,
        "base": "debian@sha256:" + "b" * 64,
    }  # fmt: skip


def test_a_failing_command_keeps_its_exit_code(tmp_path: Path) -> None:
    config = load_config(demo_project(tmp_path / "p"))
    engine, _ = _engine(b"", code=3)
    record = run_in_container(
        config, RunRequest(argv=["train.py"], mode="dev", cwd=config.root),
        image_ref=IMAGE, stdout=ClosedConsole(), stderr=ClosedConsole(),  # type: ignore[arg-type]
        engine=engine,
    )  # fmt: skip
    assert record.status == "failed" and record.exit_code == 3


def _dev_run(config: Config, engine: FakeEngine) -> RunRecord:
    """A quiet dev run of train.py in the fake engine's IMAGE: the run a replay repeats."""
    return run_in_container(
        config, RunRequest(argv=["train.py"], mode="dev", cwd=config.root),
        image_ref=IMAGE, stdout=ClosedConsole(), stderr=ClosedConsole(),  # type: ignore[arg-type]
        engine=engine,
    )  # fmt: skip


def test_replay_refuses_an_image_that_differs_from_the_record(tmp_path: Path) -> None:
    config = load_config(demo_project(tmp_path / "p"))
    engine, commands = _engine(b"ok\n")
    first = _dev_run(config, engine)
    original = config.runs_dir / first.id
    recorded = json.loads((original / "fingerprint.json").read_text())
    # The record says another alpha than the image has (a rebuilt image that resolved anew).
    recorded["packages"] = {"alpha": "0.9.0"}
    with pytest.raises(CheckFailed) as caught:
        replay_image(
            config, original, read_record(original), recorded, [], rebuild=False, force=False,
            engine=engine,
        )  # fmt: skip
    assert caught.value.exit_code == 1
    assert "differs from the recorded environment; nothing was run" in caught.value.message
    assert "alpha" in caught.value.message
    assert len(commands) == 1  # only the original ran


def test_an_image_is_probed_once_for_its_fingerprint_and_sbom(tmp_path: Path) -> None:
    config = load_config(demo_project(tmp_path / "p"))
    engine, commands = _engine(b"ok\n")
    for _ in range(2):
        record = run_in_container(
            config, RunRequest(argv=["train.py"], mode="dev", cwd=config.root),
            image_ref=IMAGE, engine=engine,
        )  # fmt: skip
        assert record.exit_code == 0
        fingerprint = json.loads((config.runs_dir / record.id / "fingerprint.json").read_text())
        assert fingerprint["packages"] == INSIDE["packages"]
        assert "libraries" not in fingerprint  # the SBOM's part of the answer
        assert (config.runs_dir / record.id / "env" / "sbom.cdx.json").is_file()
    # One container for the probe, in all: the first run's fingerprint and SBOM both read it.
    assert len(engine.containers) - len(commands) == 1
    assert len(commands) == 2


def test_a_damaged_probe_cache_is_probed_again(tmp_path: Path) -> None:
    from reprostack.image.fingerprint import probe_image

    engine, _ = _engine(b"")
    image = engine.image(IMAGE)
    assert image is not None
    inside = {**INSIDE, "libraries": []}
    assert probe_image(engine, image.id) == inside
    (cached,) = (tmp_path / "cache" / "probe").iterdir()
    cached.write_text("{not json")
    assert probe_image(engine, image.id) == inside
    assert json.loads(cached.read_text()) == inside
    assert sum(c.spec.command[-1] == PROBE_SCRIPT for c in engine.containers) == 2


def test_a_replay_says_which_image_it_runs_in(tmp_path: Path) -> None:
    config = load_config(demo_project(tmp_path / "p"))
    engine, _ = _engine(b"ok\n")
    first = _dev_run(config, engine)
    original = config.runs_dir / first.id
    record = read_record(original)
    notes: list[str] = []
    found = replay_image(
        config, original, record, read_fingerprint(original), notes, rebuild=False,
        force=False, engine=engine,
    )  # fmt: skip
    assert record.image is not None and found == record.image["id"]
    assert notes == [f"image: the recorded image {found.removeprefix('sha256:')[:12]}, "
                     "found on this engine"]  # fmt: skip
