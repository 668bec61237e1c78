"""What the run read: the start-up hook's capture, inputs.json, lineage, named caches, and the
replay checks, with real processes and real files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import demo_project, git, repro
from reprostack.inputs.caches import cache_name

READ_WEIGHTS = """\
import sys
with open(sys.argv[1], "rb") as f:
    f.read()
print("read")
"""

TRAIN = """\
import os
out = os.path.join(os.environ["REPRO_OUTPUT_DIR"], "model.ckpt")
with open(out, "wb") as f:
    f.write(b"weights v1")
with open(out, "rb") as f:  # the run reading its own output is no input
    f.read()
"""

EVAL = """\
import sys
with open(sys.argv[1], "rb") as f:
    print(len(f.read()))
"""

WORKERS = """\
import multiprocessing as mp
import sys

def load(path):
    with open(path, "rb") as f:
        return len(f.read())

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        print(sum(pool.map(load, sys.argv[2:])))
"""


def project(tmp_path: Path, scripts: dict[str, str], repro_yaml: str | None = None) -> Path:
    root = demo_project(tmp_path / "project")
    for name, text in scripts.items():
        (root / name).write_text(text)
    if repro_yaml is not None:
        (root / "repro.yaml").write_text(repro_yaml)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "scripts")
    return root


def with_run_keys(root: Path, lines: str) -> None:
    """Add keys under repro.yaml's ``run:`` (the demo project has one)."""
    text = (root / "repro.yaml").read_text().replace("run:\n", "run:\n" + lines)
    (root / "repro.yaml").write_text(text)


def run(root: Path, *args: str) -> tuple[str, dict[str, Any]]:
    runs = root / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    result = repro(root, "run", "--local", *args)
    assert result.returncode == 0, result.stderr
    # The folder this run made: two runs in one second sort by their random suffix.
    (newest,) = set(runs.iterdir()) - before
    record = yaml.safe_load((newest / "run.yaml").read_text())
    return newest.name, record


def inputs_of(root: Path, run_id: str) -> dict[str, dict[str, Any]]:
    document = json.loads((root / "runs" / run_id / "inputs.json").read_text())
    return {entry["path"]: entry for entry in document["files"]}


def test_a_file_read_outside_the_project_is_recorded_and_a_change_refuses_replay(
    tmp_path: Path,
) -> None:
    weights = tmp_path / "elsewhere" / "weights.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"\x01" * 4096)
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    run_id, record = run(root, "read.py", str(weights))

    files = inputs_of(root, run_id)
    entry = files[str(weights)]
    from blake3 import blake3

    assert entry["blake3"] == blake3(weights.read_bytes()).hexdigest()
    assert entry["size"] == 4096 and entry["identified_by"] == "content"
    # The project's code, the interpreter's libraries and the run's folder are no inputs.
    assert not any(p.startswith(str(root / "runs" / run_id)) for p in files)
    assert str(root / "read.py") not in files
    assert not any("site-packages" in p or p.endswith(".pyc") for p in files)
    assert record["inputs"]["captured"] is True and record["inputs"]["processes"] == 1
    assert not list((root / "runs" / run_id).glob(".inputs.log*"))  # folded into inputs.json

    status = repro(root, "data", "status", "--inputs", run_id)
    assert status.returncode == 0, status.stdout + status.stderr

    weights.write_bytes(b"\x02" * 4096)
    status = repro(root, "data", "status", "--inputs", run_id)
    assert status.returncode == 1 and f"changed {weights}" in status.stdout
    refused = repro(root, "replay", run_id)
    assert refused.returncode == 1, refused.stderr
    assert f"changed {weights}" in refused.stderr
    before = set((root / "runs").iterdir())
    forced = repro(root, "replay", run_id, "--force")
    assert forced.returncode == 0, forced.stderr
    ((replayed_folder),) = set((root / "runs").iterdir()) - before
    replayed = replayed_folder.name
    differences = repro(root, "diff", run_id, replayed)
    assert f"~ {weights}" in differences.stdout  # read with other contents
    weights.unlink()
    refused = repro(root, "replay", run_id)
    assert refused.returncode == 1 and f"missing {weights}" in refused.stderr


def test_capture_off_and_non_python_commands_say_so(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"x")
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    run_id, record = run(root, "cat", str(weights))
    assert record["inputs"]["captured"] is False
    assert "no Python process" in record["inputs"]["reason"]

    with_run_keys(root, "  inputs: off\n")
    git(root, "commit", "-qam", "inputs off")
    run_id, record = run(root, "read.py", str(weights))
    assert record["inputs"] == {"captured": False, "reason": "run.inputs is off"}
    assert not (root / "runs" / run_id / "inputs.json").exists()
    assert not list((root / "runs" / run_id).glob(".inputs.log*"))


def test_a_big_file_is_identified_by_stat_unless_hash_inputs(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 3000)
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    with_run_keys(root, "  inputs:\n    hash_limit: 1000\n")
    git(root, "commit", "-qam", "small limit")
    run_id, _ = run(root, "read.py", str(big))
    entry = inputs_of(root, run_id)[str(big)]
    assert entry["identified_by"] == "stat" and entry["blake3"] is None
    run_id, _ = run(root, "--hash-inputs", "read.py", str(big))
    assert inputs_of(root, run_id)[str(big)]["blake3"]


def test_a_train_and_an_eval_run_are_linked_and_a_rewritten_checkpoint_refuses(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, {"train_ckpt.py": TRAIN, "eval.py": EVAL})
    train_id, train = run(root, "train_ckpt.py")
    assert train["inputs_from"] == []
    checkpoint = root / "runs" / train_id / "outputs" / "model.ckpt"
    eval_id, evaluation = run(root, "eval.py", str(checkpoint))
    import hashlib

    assert evaluation["inputs_from"] == [
        {
            "run": train_id,
            "path": "outputs/model.ckpt",
            "sha256": hashlib.sha256(b"weights v1").hexdigest(),
            "matches": None,
        }
    ]
    lineage = repro(root, "lineage", eval_id)
    assert lineage.returncode == 0, lineage.stderr
    assert eval_id in lineage.stdout and train_id in lineage.stdout
    assert "outputs/model.ckpt" in lineage.stdout
    assert train["git_sha"][:7] in lineage.stdout
    down = repro(root, "lineage", train_id, "--down")
    assert down.returncode == 0 and eval_id in down.stdout
    shown = repro(root, "show", eval_id)
    assert train_id in shown.stdout
    listed = repro(root, "runs")
    assert any(eval_id in line and "<-" in line for line in listed.stdout.splitlines())

    checkpoint.write_bytes(b"weights v2")
    refused = repro(root, "replay", eval_id)
    assert refused.returncode == 1
    assert "outputs/model.ckpt" in refused.stderr and f"run {train_id}" in refused.stderr
    checkpoint.unlink()
    refused = repro(root, "replay", eval_id)
    assert refused.returncode == 1 and f"run {train_id}" in refused.stderr
    assert "missing" in refused.stderr


def test_worker_processes_are_covered(tmp_path: Path) -> None:
    shards = []
    for index in range(6):
        shard = tmp_path / "shards" / f"{index}.bin"
        shard.parent.mkdir(exist_ok=True)
        shard.write_bytes(bytes([index]) * 100)
        shards.append(shard)
    root = project(tmp_path, {"workers.py": WORKERS})
    for method in ("fork", "spawn"):
        run_id, record = run(root, "workers.py", method, *map(str, shards))
        files = inputs_of(root, run_id)
        assert {str(s) for s in shards} <= set(files), method
        assert record["inputs"]["processes"] >= 2, method


def test_hub_caches_are_named(tmp_path: Path) -> None:
    hub = tmp_path / "hf" / "hub" / "models--acme--tiny-bert"
    rev = "0123456789abcdef0123456789abcdef01234567"
    blob = hub / "blobs" / "aa11"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"safetensors bytes")
    snapshot = hub / "snapshots" / rev / "model.safetensors"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(blob)
    torch_ckpt = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    torch_ckpt.parent.mkdir(parents=True)
    torch_ckpt.write_bytes(b"resnet")
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    run_id, _ = run(root, "read.py", str(snapshot))
    entry = inputs_of(root, run_id)[str(snapshot)]
    assert entry["cache"] == {
        "hub": "huggingface", "repo": "acme/tiny-bert", "revision": rev,
        "file": "model.safetensors",
    }  # fmt: skip
    run_id, _ = run(root, "read.py", str(torch_ckpt))
    assert inputs_of(root, run_id)[str(torch_ckpt)]["cache"] == {
        "hub": "torch_hub",
        "file": "resnet18-f37072fd.pth",
        "model": "resnet18",
    }
    assert cache_name("/x/datasets--org--set/snapshots/r1/a/b.json") == {
        "hub": "huggingface", "kind": "dataset", "repo": "org/set", "revision": "r1",
        "file": "a/b.json",
    }  # fmt: skip


def test_a_secret_input_is_recorded_by_path_and_hash_only(tmp_path: Path) -> None:
    secret = tmp_path / "conf" / "settings.yaml"
    secret.parent.mkdir()
    secret.write_text("api_key: sk-verysecretvalue123\n")
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    run_id, _ = run(root, "read.py", str(secret))
    entry = inputs_of(root, run_id)[str(secret)]
    assert entry["secret"] == "holds a password or token" and entry["blake3"]
    folder = root / "runs" / run_id
    for path in folder.rglob("*"):
        if path.is_file():
            assert b"verysecretvalue" not in path.read_bytes(), path


def test_the_hook_chains_with_determinism_and_an_existing_sitecustomize(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = 'yes'\n")
    data = tmp_path / "d.txt"
    data.write_text("d")
    script = (
        "import os, random, sys\nopen(sys.argv[1]).read()\nprint(os.environ.get('THEIRS_RAN'))\n"
    )
    root = project(tmp_path, {"chain.py": script})
    # repro itself must still import this checkout's reprostack.
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(theirs), os.environ.get("PYTHONPATH")]))}
    result = repro(root, "run", "--local", "--deterministic", "chain.py", str(data), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "yes"
    run_id = sorted((root / "runs").iterdir())[-1].name
    record = yaml.safe_load((root / "runs" / run_id / "run.yaml").read_text())
    assert "random" in record["determinism"]["applied"]
    assert str(data) in inputs_of(root, run_id)
    assert os.environ.get("THEIRS_RAN") is None


def test_a_known_hash_is_reused_for_the_same_stat(tmp_path: Path) -> None:
    from reprostack.config import load_config
    from reprostack.inputs.files import Place, build_entries

    data = tmp_path / "data.bin"
    data.write_bytes(b"abc")
    root = demo_project(tmp_path / "project")
    config = load_config(root)
    earlier = config.runs_dir / "20200101-000000-aaaa"
    earlier.mkdir(parents=True)
    info = data.stat()
    known = {"path": str(data), "size": 3, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino,
             "blake3": "f" * 64, "identified_by": "content"}  # fmt: skip
    (earlier / "inputs.json").write_text(json.dumps({"files": [known]}))
    here = config.runs_dir / "20200101-000001-bbbb"
    here.mkdir()
    place = Place(config.root, config.runs_dir, here)
    (entry,) = build_entries(config, place, [str(data)], limit=1 << 30, hash_all=False)
    assert entry["blake3"] == "f" * 64  # taken from the earlier run, not recomputed
    data.write_bytes(b"abd")  # same size, a new mtime: hashed again
    (entry,) = build_entries(config, place, [str(data)], limit=1 << 30, hash_all=False)
    from blake3 import blake3

    assert entry["blake3"] == blake3(b"abd").hexdigest()


@pytest.mark.engine
def test_a_container_run_records_host_paths(tmp_path: Path, base_image: str) -> None:
    from reprostack.config import load_config
    from reprostack.record.request import RunRequest
    from reprostack.runs.container import run_in_container

    weights = tmp_path / "models" / "weights.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"w" * 1000)
    root = project(tmp_path, {"read.py": READ_WEIGHTS, "workers.py": WORKERS})
    (root / "data").mkdir()
    (root / "data" / "local.csv").write_text("a,b\n")  # untracked, git-ignored: an input
    (root / ".gitignore").write_text("runs/\ndata/\n")
    git(root, "commit", "-qam", "ignore data")
    config = load_config(root)
    request = RunRequest(
        argv=["read.py", "/models/weights.bin"], mode="dev", cwd=root,
        mounts=[f"{weights.parent}:/models:ro"],
    )  # fmt: skip
    with open(os.devnull, "wb") as sink:
        record = run_in_container(config, request, image_ref=base_image, stdout=sink, stderr=sink)
    assert record.status == "succeeded", record.error
    files = inputs_of(root, record.id)
    entry = files[str(weights.resolve())]
    assert entry["seen_as"] == "/models/weights.bin" and entry["blake3"]
    assert record.inputs is not None and record.inputs["captured"] is True
    # Worker processes in the container, and a git-ignored file of the project.
    request = RunRequest(
        argv=["workers.py", "fork", "/workspace/data/local.csv"], mode="dev", cwd=root
    )
    with open(os.devnull, "wb") as sink:
        record = run_in_container(config, request, image_ref=base_image, stdout=sink, stderr=sink)
    assert record.status == "succeeded", record.error
    files = inputs_of(root, record.id)
    assert str((root / "data" / "local.csv").resolve()) in files
    assert record.inputs is not None and record.inputs["processes"] >= 2


@pytest.mark.usefixtures("slurm")
def test_a_slurm_run_records_what_it_read_on_the_node(tmp_path: Path) -> None:
    weights = tmp_path / "shared" / "weights.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"s" * 2048)
    root = project(tmp_path, {"read.py": READ_WEIGHTS})
    result = repro(root, "run", "--slurm", "--wait", "read.py", str(weights))
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[0]
    entry = inputs_of(root, run_id)[str(weights)]
    assert entry["blake3"] and entry["size"] == 2048


def test_mlflow_tags_name_the_upstream_runs() -> None:
    from reprostack.experiments.mlflow_client import tags_for
    from reprostack.record.run import RunRecord

    record = RunRecord(id="20261207-120000-eval", argv=["eval.py"], mode="local")
    assert "repro.inputs_from" not in tags_for(record, {}, {})
    record.inputs_from = [
        {"run": "20261207-110000-trn2", "path": "outputs/b.pt", "sha256": None, "matches": None},
        {"run": "20261207-100000-trn1", "path": "outputs/a.pt", "sha256": None, "matches": None},
        {"run": "20261207-100000-trn1", "path": "outputs/c.pt", "sha256": None, "matches": None},
    ]
    tags = tags_for(record, {}, {})
    assert tags["repro.inputs_from"] == "20261207-100000-trn1,20261207-110000-trn2"
