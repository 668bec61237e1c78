"""`repro replay` of local runs: exact code restored aside, environment checked, outputs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from paths import TESTS
from projects import REPRO, demo_project, git, repro, repro_in_process
from reprostack.record.store import list_run_ids

DETERMINISTIC = """\
import json, os, random
from pathlib import Path
rng = random.Random(int(os.environ["REPRO_SEED"]))
weights = [round(rng.random(), 12) for _ in range(8)]
out = Path(os.environ["REPRO_OUTPUT_DIR"])
(out / "checkpoint.json").write_text(json.dumps(weights))
(out / "metrics.json").write_text(json.dumps({"loss": sum(weights)}))
print("version", Path("VERSION").read_text().strip())
"""


def run_ids(project: Path) -> list[str]:
    """Oldest first, by true start time (two runs may start within the same second)."""
    return list(reversed(list_run_ids(project / "runs")))


def test_replay_restores_code_and_reproduces_outputs(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "det.py").write_text(DETERMINISTIC)
    (project / "VERSION").write_text("v1\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "v1")
    (project / "VERSION").write_text("v1-dirty\n")  # uncommitted: must come back via the patch
    first = repro(project, "run", "--seed", "5", "det.py")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "version v1-dirty\n"
    original = run_ids(project)[0]

    # The tree moves on: new commit, new dirt. The replay must not see any of it.
    (project / "VERSION").write_text("v2\n")
    git(project, "commit", "-q", "-am", "v2")
    (project / "det.py").write_text("raise SystemExit('the new code must not run')\n")
    before = {
        p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts
    }

    replay = repro(project, "replay", original[:15])
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == "version v1-dirty\n"
    assert "outputs: all 2 files byte-identical" in replay.stderr
    new = [r for r in run_ids(project) if r != original]
    assert len(new) == 1
    record = yaml.safe_load((project / "runs" / new[0] / "run.yaml").read_text())
    assert record["replay_of"] == original
    # The replay ran in a detached worktree; it stands for the original's branch.
    fingerprint = json.loads((project / "runs" / new[0] / "fingerprint.json").read_text())
    assert fingerprint["git"]["branch"] == "main"
    diff = repro_in_process(project, "diff", original, new[0])
    assert "git.branch" not in diff.stdout + diff.stderr
    assert record["seed"] == 5
    assert record["argv"] == ["det.py"]
    first_fp = json.loads((project / "runs" / original / "fingerprint.json").read_text())
    new_fp = json.loads((project / "runs" / new[0] / "fingerprint.json").read_text())
    assert new_fp["git"]["sha"] == first_fp["git"]["sha"]
    assert new_fp["git"]["patch_sha256"] == first_fp["git"]["patch_sha256"]
    assert new_fp["packages"] == first_fp["packages"]
    # The working tree is exactly as it was, and no worktree is left registered.
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert {p: b for p, b in after.items() if "runs" not in p.parts} == {
        p: b for p, b in before.items() if "runs" not in p.parts
    }
    assert git(project, "worktree", "list").count("\n") == 0


def test_replay_refuses_when_packages_differ(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "quick.py").write_text("print('ran')\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "quick")
    assert repro(project, "run", "quick.py").returncode == 0
    run_id = run_ids(project)[0]
    fp_path = project / "runs" / run_id / "fingerprint.json"
    fp = json.loads(fp_path.read_text())
    fp["packages"]["click"] = "0.0.1"
    fp["packages"]["tensorflow"] = "2.16.1"
    fp_path.write_text(json.dumps(fp))

    refused = repro(project, "replay", "last")
    assert refused.returncode == 1
    assert "differs from run" in refused.stderr
    assert "- tensorflow==2.16.1" in refused.stderr
    assert "~ click: 0.0.1 ->" in refused.stderr
    assert run_ids(project) == [run_id]  # nothing ran, nothing recorded

    forced = repro(project, "replay", "last", "--force")
    assert forced.returncode == 0
    assert forced.stdout == "ran\n"
    assert len(run_ids(project)) == 2


def test_replay_of_unknown_run_and_missing_commit(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    unknown = repro(project, "replay", "20990101")
    assert unknown.returncode == 125
    assert "no runs recorded" in unknown.stderr
    assert repro(project, "run", "train.py").returncode == 0
    run_id = run_ids(project)[0]
    record_path = project / "runs" / run_id / "run.yaml"
    record = yaml.safe_load(record_path.read_text())
    record["git_sha"] = "0" * 40
    record_path.write_text(yaml.safe_dump(record))
    missing = repro(project, "replay", run_id)
    assert missing.returncode == 125
    assert f"recorded at commit {'0' * 40}, which is not in" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_export_and_replay_on_a_clone_without_the_commit(tmp_path: Path) -> None:
    upstream = demo_project(tmp_path / "upstream")
    (upstream / "det.py").write_text(DETERMINISTIC)
    (upstream / "VERSION").write_text("pushed\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "pushed")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(upstream), str(work)], check=True)
    git(work, "config", "user.email", "a@example.com")
    git(work, "config", "user.name", "A")
    (work / "VERSION").write_text("local only\n")
    git(work, "commit", "-q", "-am", "never pushed")
    assert repro(work, "run", "--seed", "1", "det.py").returncode == 0
    exported = repro_in_process(
        work, "export", "last", "-o", str(tmp_path / "run.tar.gz"), "--outputs"
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"{tmp_path / 'run.tar.gz'}\n"

    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["git", "clone", "-q", str(upstream), str(elsewhere)], check=True)
    replay = repro(elsewhere, "replay", str(tmp_path / "run.tar.gz"))
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == "version local only\n"
    assert "outputs: all 2 files byte-identical" in replay.stderr
    assert len(run_ids(elsewhere)) == 2  # the imported original and its replay
    assert "VERSION" not in git(elsewhere, "status", "--porcelain")


def test_replay_of_an_export_without_outputs_says_so(tmp_path: Path) -> None:
    work = demo_project(tmp_path / "work")
    (work / "det.py").write_text(DETERMINISTIC)
    (work / "VERSION").write_text("v\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "det")
    assert repro(work, "run", "--seed", "1", "det.py").returncode == 0
    assert (
        repro_in_process(work, "export", "last", "-o", str(tmp_path / "run.tar.gz")).returncode == 0
    )
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["git", "clone", "-q", str(work), str(elsewhere)], check=True)
    replay = repro(elsewhere, "replay", str(tmp_path / "run.tar.gz"))
    assert replay.returncode == 0, replay.stderr
    assert (
        "outputs: not compared: the original run's outputs were not exported (make the "
        "export with `repro export --outputs`); the replay wrote 2 files" in replay.stderr
    )
    assert "of 2 files identical" not in replay.stderr


def test_import_rejects_a_foreign_archive(tmp_path: Path) -> None:
    import tarfile

    project = demo_project(tmp_path / "p")
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(project / "train.py", arcname="train.py")
    result = repro(project, "replay", str(bogus))
    assert result.returncode == 125
    assert "has no repro-export.json: not made by `repro export`" in result.stderr


def test_replay_checks_the_driver_against_the_recorded_cuda_first(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    assert repro(project, "run", "train.py").returncode == 0
    run_id = run_ids(project)[0]
    fp_path = project / "runs" / run_id / "fingerprint.json"
    fp = json.loads(fp_path.read_text())
    fp["cuda"] = {"runtime_version": "12.4", "cudnn_version": "9.1.0"}
    fp_path.write_text(json.dumps(fp))
    fake = TESTS / "fake_bin"
    case = TESTS / "fixtures" / "nvidia-smi" / "r470-gt1030"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_NVIDIA_SMI_CASE": str(case)}
    result = subprocess.run(
        [*REPRO, "replay", run_id],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 125
    assert "cannot run run" in result.stderr
    assert "CUDA 12.4 needs NVIDIA driver >= 525.60.13; this host has 470.74" in result.stderr
    assert run_ids(project) == [run_id]


def test_replay_uses_the_recorded_repro_yaml_not_todays(tmp_path: Path) -> None:
    # A dataset declared after the run is no part of it: the replay neither checks nor records
    # it (in a container it would be mounted), because it runs what was recorded.
    project = demo_project(tmp_path / "p")
    (project / "noop.py").write_text("print('ran')\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "noop")
    first = repro(project, "run", "noop.py")
    assert first.returncode == 0, first.stderr
    original = run_ids(project)[0]
    data = tmp_path / "later"
    data.mkdir()
    (data / "a.txt").write_text("a\n")
    with (project / "repro.yaml").open("a") as handle:
        handle.write(f"data:\n  later: {{path: {data}}}\n")
    git(project, "commit", "-q", "-am", "data added after the run")
    assert repro(project, "data", "scan", "later").returncode == 0

    replay = repro(project, "replay", original)
    assert replay.returncode == 0, replay.stderr
    (new,) = [r for r in run_ids(project) if r != original]
    fingerprint = json.loads((project / "runs" / new / "fingerprint.json").read_text())
    assert "data" not in fingerprint
    recorded_config = (project / "runs" / new / "env" / "repro.yaml").read_text()
    assert "later" not in recorded_config
