"""The data of a run: recorded at start, compared by `repro diff`, checked by `repro replay`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import git, make_repo, repro, repro_in_process
from reprostack.config import Config, DatasetConfig, load_config, parse_config
from reprostack.errors import ConfigError
from reprostack.record.request import RunRequest
from reprostack.record.store import list_run_ids
from reprostack.runs.container import run_in_container, with_data_mounts

READ_DATA = """\
import os, pathlib, time
print(len(list(pathlib.Path(os.environ["DATA"]).rglob("*.bin"))), "files")
time.sleep(float(os.environ.get("HOLD", "0")))  # time for the stat of every file to finish
"""


pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test


def data_project(tmp_path: Path) -> tuple[Path, Path]:
    """A committed git project reading dataset ``pets`` (outside the repo) with its manifest."""
    data = tmp_path / "pets"
    for index in range(3):
        (data / "cat").mkdir(parents=True, exist_ok=True)
        (data / "cat" / f"{index}.bin").write_bytes(f"cat {index}".encode())
    project = make_repo(
        tmp_path / "project",
        {
            "repro.yaml": f"name: demo\ndata:\n  pets: {{path: {data}}}\n",
            "read.py": READ_DATA,
            ".gitignore": "runs/\n",
        },
        commit=False,
    )
    scan = repro_in_process(project, "data", "scan")
    assert scan.returncode == 0, scan.stderr
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "data manifest")
    return project, data


def fingerprint_of(project: Path, run_id: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (project / "runs" / run_id / "fingerprint.json").read_text()
    )
    return data


def run_ids(project: Path) -> list[str]:
    """Oldest first, by true start time (two runs may start within the same second)."""
    return list(reversed(list_run_ids(project / "runs")))


def test_a_run_records_its_data_and_replay_refuses_until_the_data_is_restored(
    tmp_path: Path,
) -> None:
    project, data = data_project(tmp_path)
    manifest = json.loads((project / "lockfiles" / "data" / "pets.json").read_text())

    run = repro(project, "run", "read.py", env={"DATA": str(data), "HOLD": "2"})
    assert run.returncode == 0, run.stderr
    assert run.stdout == "3 files\n"
    first = run_ids(project)[0]
    recorded = fingerprint_of(project, first)["data"]
    assert recorded == {
        "pets": {
            "path": str(data),
            "digest": manifest["digest"],
            "files": 3,
            "bytes": 15,
            "matches_manifest": True,
            # Checked quickly at the start (folders and a sample), then every file statted
            # while the command ran (the command outlasted that stat).
            "check": {"how": "stat", "folders": 2, "files": 3, "during_run": True},
        }
    }
    # The run keeps the manifest of its day: replay and diff can name files, not just digests.
    assert (project / "runs" / first / "env" / "lockfiles" / "data" / "pets.json").is_file()

    original = (data / "cat" / "1.bin").read_bytes()
    (data / "cat" / "1.bin").write_bytes(b"cat ONE")
    refused = repro(project, "replay", first, env={"DATA": str(data)})
    assert refused.returncode == 1
    assert refused.stdout == ""  # nothing ran
    assert f"the data differs from what run {first} read; nothing was run:" in refused.stderr
    assert f"pets: {data} differs from what run {first} read" in refused.stderr
    assert "    modified cat/1.bin" in refused.stderr
    assert len(run_ids(project)) == 1  # no run recorded

    forced = repro(project, "replay", first, "--force", env={"DATA": str(data)})
    assert forced.returncode == 0, forced.stderr

    (data / "cat" / "1.bin").write_bytes(original)  # restored (new mtime, same content)
    replay = repro(project, "replay", first, env={"DATA": str(data)})
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == "3 files\n"


def test_a_run_on_changed_data_says_so_and_diff_names_the_files(tmp_path: Path) -> None:
    project, data = data_project(tmp_path)
    assert repro(project, "run", "read.py", env={"DATA": str(data)}).returncode == 0
    (data / "cat" / "2.bin").write_bytes(b"cat two, retaken")
    (data / "cat" / "3.bin").write_bytes(b"cat 3")

    stale = repro(project, "run", "read.py", env={"DATA": str(data)})
    assert stale.returncode == 0, stale.stderr
    first, second = run_ids(project)
    facts = fingerprint_of(project, second)["data"]["pets"]  # type: ignore[index]
    # The quick check cannot name a digest for data it has not hashed: it says what it saw.
    assert facts["digest"] is None
    assert facts["matches_manifest"] is False
    assert facts["changed"] == {
        "added": 1,
        "removed": 0,
        "modified": 1,
        "first": ["modified cat/2.bin", "added cat/3.bin"],
    }
    diff = repro_in_process(project, "diff", first, second)
    assert diff.returncode == 0, diff.stderr
    assert "  data.pets.changed.first[0]: (absent) -> modified cat/2.bin\n" in diff.stdout
    assert "  data.pets.matches_manifest: True -> False\n" in diff.stdout

    # Scanned and committed again, the next run's record pins the new data, and diff names
    # the files from the two runs' manifests.
    assert repro_in_process(project, "data", "scan").returncode == 0
    assert repro(project, "run", "read.py", env={"DATA": str(data)}).returncode == 0
    third = run_ids(project)[2]
    files_diff = repro_in_process(project, "diff", first, third)
    assert files_diff.returncode == 0, files_diff.stderr
    assert (
        "  data.pets: 1 modified, 1 added files\n    modified cat/2.bin\n    added cat/3.bin\n"
    ) in files_diff.stdout


def test_run_warns_and_show_tells_when_the_data_differs_from_its_manifest(
    tmp_path: Path,
) -> None:
    project, data = data_project(tmp_path)
    clean = repro(project, "run", "read.py", env={"DATA": str(data)})
    assert clean.returncode == 0, clean.stderr
    assert "differs from its manifest" not in clean.stderr
    shown = repro(project, "show", "last")
    assert "data (at the start of the run):\n" in shown.stdout
    assert f"  pets: {data}, 3 files, " in shown.stdout
    assert "; matches its manifest\n" in shown.stdout

    (data / "cat" / "2.bin").write_bytes(b"cat two, retaken")
    stale = repro(project, "run", "read.py", env={"DATA": str(data)})
    assert stale.returncode == 0, stale.stderr
    assert (
        "repro: warning: dataset pets differs from its manifest (lockfiles/data/pets.json): "
        "1 modified (modified cat/2.bin); `repro data status pets` lists the changes"
    ) in stale.stderr
    assert "; DIFFERS from its manifest\n" in repro(project, "show", "last").stdout


def test_a_run_needs_its_data_and_fails_before_starting_without_it(tmp_path: Path) -> None:
    project, data = data_project(tmp_path)
    data.rename(tmp_path / "elsewhere")
    run = repro(project, "run", "read.py")
    assert run.returncode == 125
    assert f"dataset pets: {data} does not exist on this machine" in run.stderr
    record = yaml.safe_load((project / "runs" / run_ids(project)[0] / "run.yaml").read_text())
    assert record["status"] == "failed"
    assert "dataset pets" in record["error"]


def test_data_without_a_manifest_is_recorded_as_unchecked(tmp_path: Path) -> None:
    project, data = data_project(tmp_path)
    (project / "lockfiles" / "data" / "pets.json").unlink()
    assert repro(project, "run", "read.py", env={"DATA": str(data)}).returncode == 0
    facts = fingerprint_of(project, run_ids(project)[0])["data"]["pets"]  # type: ignore[index]
    assert facts["matches_manifest"] is None
    assert facts["digest"] is None
    assert facts["note"] == "no manifest: run `repro data scan pets`"


def config_of(tmp_path: Path, text: str) -> Config:
    return parse_config(text, root=tmp_path, path=tmp_path / "repro.yaml")


def test_data_config_accepts_folders_files_and_short_forms(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "w.pth").write_text("")
    config = config_of(
        tmp_path,
        "name: demo\ndata:\n  raw: {path: raw, toy: data/toy/raw}\n  weights: w.pth\n",
    )
    assert config.data == {
        "raw": DatasetConfig("raw", tmp_path / "raw", "raw", tmp_path / "data/toy/raw"),
        "weights": DatasetConfig("weights", tmp_path / "w.pth", "w.pth"),
    }
    assert config.warnings == ()


def test_data_config_errors_are_located(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    text = (
        "name: demo\n"
        "data:\n"
        "  Bad Name: {path: raw}\n"
        "  nopath: {toy: x}\n"
        "  inside: {path: raw, toy: raw/toy}\n"
        "  algo: {path: raw, algorithm: md5, pth: 1}\n"
        "  number: 3\n"
    )
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, text)
    assert caught.value.problems == [
        "repro.yaml:3: data.Bad Name: a dataset name uses lowercase letters, digits, '.', "
        "'_' or '-'",
        "repro.yaml:4: data.nopath.path: missing; give the dataset's folder or file",
        "repro.yaml:5: data.inside.toy: the toy subset must live outside the dataset",
        "repro.yaml:6: data.algo.pth: unknown key; did you mean 'path'?",
        "repro.yaml:6: data.algo.algorithm: 'md5' is not allowed; use one of: blake3, sha256",
        "repro.yaml:7: data.number: expected {path: ..., toy: ...} or a path, got a number (3)",
    ]


def test_missing_data_path_is_only_a_warning_in_config(tmp_path: Path) -> None:
    config = config_of(tmp_path, "name: demo\ndata:\n  gone: {path: /no/such/place}\n")
    assert config.warnings == (
        "repro.yaml:3: data.gone.path: /no/such/place does not exist on this machine; "
        "commands that read it will stop",
    )


def test_container_runs_mount_each_dataset_read_only_at_the_same_path(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    config = config_of(tmp_path, "name: demo\ndata:\n  raw: {path: raw}\n  w: /models/w.pth\n")
    raw = tmp_path / "raw"
    assert with_data_mounts(config, ["/cache:/cache"]) == [
        "/cache:/cache",
        f"{raw}:{raw}:ro",
        "/models/w.pth:/models/w.pth:ro",
    ]
    # A dataset the user already mounts at that path is left as they wrote it.
    assert with_data_mounts(config, [f"{raw}:{raw}:rw"])[0] == f"{raw}:{raw}:rw"
    assert len(with_data_mounts(config, [f"{raw}:{raw}:rw"])) == 2


@pytest.mark.engine
def test_a_container_run_reads_the_dataset_read_only_at_its_path(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project, data = data_project(tmp_path)
    (project / "probe.py").write_text(
        "import os, sys\n"
        f"data = {str(data)!r}\n"
        "print(sorted(os.listdir(data + '/cat')))\n"
        "try:\n"
        "    open(data + '/cat/new.bin', 'w')\n"
        "except OSError as exc:\n"
        "    print('read-only:', exc.errno == 30)\n"
    )
    config = load_config(project)
    out = tmp_path / "out"
    with out.open("wb") as stdout, (tmp_path / "err").open("wb") as stderr:
        record = run_in_container(
            config, RunRequest(argv=["probe.py"], mode="dev", cwd=project),
            image_ref=base_image, stdout=stdout, stderr=stderr,
        )  # fmt: skip
    assert (record.status, record.exit_code) == ("succeeded", 0), (tmp_path / "err").read_text()
    assert out.read_text() == "['0.bin', '1.bin', '2.bin']\nread-only: True\n"
    saved = yaml.safe_load((config.runs_dir / record.id / "run.yaml").read_text())
    assert f"{data}:{data}:ro" in saved["mounts"]
    fp = fingerprint_of(project, record.id)
    assert fp["data"]["pets"]["matches_manifest"] is True  # type: ignore[index]


@pytest.mark.engine
def test_a_container_replay_in_a_project_with_data_accepts_its_own_image(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    # The image's probe has no data section: data is checked by the replay's data check, not
    # taken for a difference of the image (every --dev/--prod replay with data: refused).
    from reprostack.engine import connect
    from reprostack.record.run import read_fingerprint, read_record
    from reprostack.replay.image import replay_image

    project, _data = data_project(tmp_path)
    (project / "noop.py").write_text("pass\n")
    config = load_config(project)
    with (tmp_path / "out").open("wb") as stdout, (tmp_path / "err").open("wb") as stderr:
        record = run_in_container(
            config, RunRequest(argv=["noop.py"], mode="dev", cwd=project),
            image_ref=base_image, stdout=stdout, stderr=stderr,
        )  # fmt: skip
    assert record.exit_code == 0, (tmp_path / "err").read_text()
    folder = config.runs_dir / record.id
    recorded = read_fingerprint(folder)
    assert recorded["data"]["pets"]["matches_manifest"] is True
    notes: list[str] = []
    image_id = replay_image(
        config, folder, read_record(folder), recorded, notes, rebuild=False, force=False,
        engine=connect(),
    )  # fmt: skip
    assert record.image is not None and image_id == record.image["id"]
    assert notes == [f"image: the recorded image {image_id.removeprefix('sha256:')[:12]}, "
                     "found on this engine"]  # fmt: skip


def test_the_fingerprint_table_shows_each_dataset(tmp_path: Path) -> None:
    project, _data = data_project(tmp_path)
    table = repro_in_process(project, "fingerprint")
    assert table.returncode == 0, table.stderr
    manifest = json.loads((project / "lockfiles" / "data" / "pets.json").read_text())
    line = next(line for line in table.stdout.splitlines() if line.startswith("data pets"))
    assert line.split(None, 2)[2] == (
        f"3 files, 0.0 MiB, {manifest['digest'][:23]}… "
        "(matches its manifest; quick check: every folder, 3 files statted)"
    )
