"""The code a record names is the truth: patches on real git, secrets left out, submodules."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from projects import GIT_ENV, REPRO, demo_project, git, make_repo, repro_in_process
from projects import repro as run_repro
from reprostack.fingerprint.git import read_git
from reprostack.record.ids import RUN_ID_RE
from reprostack.record.store import list_run_ids


def repro(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_repro(cwd, *args, env=GIT_ENV)  # with a git identity for replay's worktree


def runs_of(project: Path) -> list[Path]:
    return sorted(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))


def record_of(run: Path) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((run / "run.yaml").read_text())
    return data


def objects(repo: Path) -> set[str]:
    return {str(p.relative_to(repo)) for p in (repo / ".git").rglob("*") if p.is_file()} - {
        ".git/index"
    }


def test_secrets_and_big_files_stay_out_of_the_patch_and_out_of_git(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "train.py").write_text((project / "train.py").read_text() + "# edited\n")
    secrets = {
        ".env": "DB_PASSWORD=hunter2-env\n",
        "aws.ini": "[default]\naws_secret_access_key = hunter2-aws\n",
        "keys/server.pem": "-----BEGIN PRIVATE KEY-----\nhunter2-pem\n",
        "secrets.yaml": "api_token: hunter2-yaml\n",
        "conf/db.yaml": "password: hunter2-db\n",
    }
    for name, text in secrets.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    big = os.urandom(2 * 1024 * 1024)
    (project / "ckpt.bin").write_bytes(big)
    (project / "notes.txt").write_text("plain notes\n")
    before = objects(project)

    result = repro(project, "run", "train.py")

    assert result.returncode == 0, result.stderr
    assert objects(project) == before  # not one blob written into the user's repository
    (run,) = runs_of(project)
    patch = (run / "source.patch").read_bytes()
    assert b"+# edited" in patch and b"plain notes" in patch
    assert b"hunter2" not in patch and b"ckpt.bin" not in patch
    record = record_of(run)
    assert record["dirty"] is True
    left_out = {e["path"]: e for e in record["source_left_out"]}  # type: ignore[union-attr]
    assert set(left_out) == {*secrets, "ckpt.bin"}
    for name, text in secrets.items():
        assert left_out[name]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert left_out["ckpt.bin"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert left_out["ckpt.bin"]["reason"] == "untracked file larger than 1 MiB"
    everything = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    assert b"hunter2" not in everything


def test_a_patch_captured_while_files_churn_is_never_recorded_clean(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "train.py").write_text((project / "train.py").read_text() + "# edited\n")
    (project / "quick.py").write_text("print('ok')\n")
    churn = project / "ckpt"
    churn.mkdir()
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            (churn / f"f{i % 7}").write_text(str(i))
            (churn / f"f{(i + 3) % 7}").unlink(missing_ok=True)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [repro(project, "run", "quick.py") for _ in range(4)]
    finally:
        stop.set()
        thread.join()
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    for run in runs_of(project):
        record = record_of(run)
        patch = (run / "source.patch").read_bytes()
        if record["dirty"] == "unknown":
            assert record["git_error"]
        else:
            assert record["dirty"] is True and b"+# edited" in patch, record


def without_root_reads() -> list[str]:
    """A prefix that runs a command unable to read what its owner may not (root included)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable to repro")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_an_unreadable_file_makes_the_code_state_unknown_not_clean(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "train.py").write_text((project / "train.py").read_text() + "# edited\n")
    (project / "quick.py").write_text("print('ok')\n")
    secret = project / "private.txt"
    secret.write_text("mine\n")
    secret.chmod(0)
    result = subprocess.run(
        [*without_root_reads(), *REPRO, "run", "quick.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (run,) = runs_of(project)
    record = record_of(run)
    assert record["dirty"] == "unknown"
    assert "private.txt" in str(record["git_error"])
    assert "Permission denied" in str(record["git_error"])
    listed = repro_in_process(project, "runs", env=GIT_ENV)
    assert listed.returncode == 0
    assert f"{str(record['git_sha'])[:8]}?" in listed.stdout
    # A replay would run other code than the run did: refused unless --force.
    replayed = repro(project, "replay", "last")
    assert replayed.returncode == 1
    assert "could not be captured" in replayed.stderr


def test_submodules_are_recorded_and_restored_by_replay(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "VALUE = 1\n"})
    project = demo_project(tmp_path / "p")
    git(
        project,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        str(lib),
        "vendor/lib",
    )
    git(project, "commit", "-q", "-m", "add lib")
    (project / "vendor/lib/lib.py").write_text("VALUE = 2\n")
    (project / "vendor/lib/extra.py").write_text("EXTRA = 3\n")
    (project / "use.py").write_text(
        "import os, sys\nsys.path.insert(0, 'vendor/lib')\nimport lib, extra\n"
        "open(os.path.join(os.environ['REPRO_OUTPUT_DIR'], 'v.txt'), 'w')"
        ".write(f'{lib.VALUE}{extra.EXTRA}')\n"
    )
    state = read_git(project, exclude=(project / "runs",))
    assert state.info is not None
    assert state.info["dirty"] is True
    (sub,) = state.info["submodules"]
    assert sub["path"] == "vendor/lib" and sub["sha"] == git(lib, "rev-parse", "HEAD")
    assert sub["dirty"] is True
    assert b"VALUE = 2" in state.submodule_patches["vendor/lib"]
    assert b"EXTRA = 3" in state.submodule_patches["vendor/lib"]
    assert b"VALUE = 2" not in state.patch  # the super project's patch has no submodule lines

    result = repro(project, "run", "use.py")
    assert result.returncode == 0, result.stderr
    (run,) = runs_of(project)
    assert (run / "outputs" / "v.txt").read_text() == "23"
    assert (run / "submodules" / "vendor" / "lib.patch").is_file()
    # Replay restores the submodule at its commit with its changes, not the folder of today.
    (project / "vendor/lib/lib.py").write_text("VALUE = 9\n")
    replayed = repro(project, "replay", "last")
    assert replayed.returncode == 0, replayed.stderr
    newest = project / "runs" / list_run_ids(project / "runs")[0]  # by true start time
    assert newest != run
    assert (newest / "outputs" / "v.txt").read_text() == "23"


@pytest.mark.parametrize("run_dir", [".", "./", ".git", ".git/runs", "configs"])
def test_run_dir_overlapping_the_code_is_refused(tmp_path: Path, run_dir: str) -> None:
    project = demo_project(tmp_path / "p")
    (project / "repro.yaml").write_text(
        (project / "repro.yaml").read_text() + f"  dir: '{run_dir}'\n"
    )
    result = repro(project, "run", "train.py")
    assert result.returncode == 125
    assert "run.dir" in result.stderr and "Traceback" not in result.stderr
    assert not [p for p in project.rglob("*") if RUN_ID_RE.match(p.name)]


def test_a_project_in_a_subfolder_of_its_repository_is_captured(tmp_path: Path) -> None:
    # The bundled example lives in examples/quickstart: git answers there with paths relative
    # to the subfolder, and the capture must still borrow the repository's objects.
    repo = make_repo(tmp_path / "repo", {"examples/demo/repro.yaml": "name: demo\n",
                                         "examples/demo/train.py": "print('hi')\n"})  # fmt: skip
    project = repo / "examples" / "demo"
    clean = read_git(project)
    assert clean.info is not None and (clean.info["dirty"], clean.info.get("error")) == (
        False,
        None,
    )
    (project / "train.py").write_text("print('changed')\n")
    dirty = read_git(project)
    assert dirty.info is not None
    assert (dirty.info["dirty"], dirty.info.get("error")) == (True, None)
    assert b"changed" in dirty.patch
    result = repro(project, "run", "train.py")
    assert result.returncode == 0, result.stderr
    assert record_of(runs_of(project)[-1])["dirty"] is True
