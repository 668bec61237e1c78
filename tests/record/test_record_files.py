"""The files around a record: modes that follow the umask, config copies that refuse secrets,
exports that keep relative links and refuse escaping ones."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from projects import GIT_ENV, demo_project, repro_in_process
from reprostack.atomic import write_text
from reprostack.record.ids import RUN_ID_RE

REPRO = [sys.executable, "-m", "reprostack"]


def repro(cwd: Path, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [*REPRO, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
        timeout=120,
        preexec_fn=set_umask,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def only_run(project: Path) -> Path:
    (run,) = [p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name)]
    return run


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "train.py", umask=umask)
    assert result.returncode == 0, result.stderr
    run = only_run(project)
    for name in ("run.yaml", "fingerprint.json", "source.patch", "stdout.log"):
        assert mode(run / name) == expected, name
    init = tmp_path / "fresh"
    init.mkdir()
    assert repro(init, "init", umask=umask).returncode == 0
    assert mode(init / "repro.yaml") == expected


def test_a_rewritten_file_keeps_its_mode(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".gitignore").write_text("*.pyc\n")
    (project / ".gitignore").chmod(0o664)
    assert repro(project, "init", umask=0o077).returncode == 0
    assert mode(project / ".gitignore") == 0o664
    assert (project / ".gitignore").read_text() == "*.pyc\n/runs/\n.env\n"
    script = project / "tool.sh"
    script.write_text("old\n")
    script.chmod(0o755)
    write_text(script, "new\n")
    assert mode(script) == 0o755


def test_config_copies_refuse_secret_bearing_files(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    files = {
        ".env": "WANDB_API_KEY=hunter2-1\n",
        "db.yaml": "db:\n  password: hunter2-2\n",
        "hub.json": '{"hf_token": "hunter2-3"}\n',
        "remote.ini": "[data]\nurl = https://ann:hunter2-4@data.example.com/x\n",
        str(home / ".netrc"): "machine h login a password hunter2-5\n",
        str(home / ".docker" / "config.json"): '{"auths": {"r.example.com": {"auth": "aHVudGVy"}}}',
    }
    for name, text in files.items():
        path = project / name if not name.startswith("/") else Path(name)
        path.write_text(text)
    (project / "plain.yaml").write_text("lr: 0.1\n")
    result = repro(
        project, "run", "train.py",
        "--config", ".env", "--data-config=db.yaml", "hub.json", "remote.ini",
        "--netrc-config", str(home / ".netrc"),
        "--docker-config", str(home / ".docker" / "config.json"),
        "plain.yaml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = only_run(project)
    configs = yaml.safe_load((run / "run.yaml").read_text())["configs"]
    copied = {Path(c["path"]).name: c for c in configs}
    assert copied["plain.yaml"]["copy"] == "config/plain.yaml"
    for name in (".env", "db.yaml", "hub.json", "remote.ini", ".netrc", "config.json"):
        assert copied[name]["copy"] is None, name
        assert copied[name]["not_copied"], name
    everything = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    assert b"hunter2" not in everything and b"aHVudGVy" not in everything


def test_export_keeps_relative_links_and_refuses_escaping_ones(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "links.py").write_text(
        "import os\nout = os.environ['REPRO_OUTPUT_DIR']\n"
        "os.makedirs(os.path.join(out, 'ckpt'))\n"
        "open(os.path.join(out, 'ckpt', 'model.bin'), 'w').write('weights')\n"
        "os.symlink('ckpt/model.bin', os.path.join(out, 'best.bin'))\n"
        "os.symlink('ckpt', os.path.join(out, 'latest'))\n"
        "os.mkfifo(os.path.join(out, 'pipe'))\n"
    )
    assert repro(project, "run", "links.py").returncode == 0
    archive = tmp_path / "run.tar.gz"
    exported = repro_in_process(
        project, "export", "last", "--outputs", "-o", str(archive), env=GIT_ENV
    )
    assert exported.returncode == 0, exported.stderr
    assert "outputs/pipe: not a regular file (a FIFO, socket or device); left out" in (
        exported.stderr
    )
    run = only_run(project)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    best = members[f"{run.name}/outputs/best.bin"]
    latest = members[f"{run.name}/outputs/latest"]
    assert best.issym() and best.linkname == "ckpt/model.bin"
    assert latest.issym() and latest.linkname == "ckpt"
    assert f"{run.name}/outputs/ckpt/model.bin" in members

    (run / "outputs" / "etc").symlink_to("/etc/hostname")
    refused = repro_in_process(
        project, "export", "last", "--outputs", "-o", str(tmp_path / "bad.tar.gz"), env=GIT_ENV
    )
    assert refused.returncode == 2
    assert "outputs/etc -> /etc/hostname" in refused.stderr
    assert not (tmp_path / "bad.tar.gz").exists()
