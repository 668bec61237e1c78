"""`repro data scan` and `repro data status` on real trees made in tmp dirs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from blake3 import blake3

from projects import repro_in_process
from reprostack.config import DatasetConfig
from reprostack.data.cache import HashCache
from reprostack.data.manifest import SECTIONS, read_manifest
from reprostack.data.scan import hash_paths, scan_dataset

pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test


def make_dataset(root: Path) -> Path:
    """A small image-classification-shaped tree: two class folders and a label file."""
    (root / "train" / "cat").mkdir(parents=True)
    (root / "train" / "dog").mkdir(parents=True)
    (root / "train" / "cat" / "1.bin").write_bytes(b"cat one")
    (root / "train" / "cat" / "2.bin").write_bytes(b"cat two")
    (root / "train" / "dog" / "1.bin").write_bytes(b"dog one")
    (root / "labels.csv").write_text("path,label\ntrain/cat/1.bin,cat\n")
    return root


def make_project(tmp_path: Path, data: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(f"name: demo\ndata:\n  pets: {{path: {data}}}\n")
    return project


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b3(data: bytes) -> str:
    return blake3(data).hexdigest()


def test_scan_writes_a_sorted_manifest_with_a_recomputable_digest(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)

    result = repro_in_process(project, "data", "scan")

    assert result.returncode == 0, result.stderr
    manifest_file = project / "lockfiles" / "data" / "pets.json"
    text = manifest_file.read_text()
    manifest = json.loads(text)
    assert manifest["algorithm"] == "blake3"
    assert manifest["path"] == str(data)
    assert manifest["entries"] == [
        ["labels.csv", 31, b3(b"path,label\ntrain/cat/1.bin,cat\n")],
        ["train/cat/1.bin", 7, b3(b"cat one")],
        ["train/cat/2.bin", 7, b3(b"cat two")],
        ["train/dog/1.bin", 7, b3(b"dog one")],
    ]
    assert (manifest["files"], manifest["bytes"]) == (4, 52)
    # One entry a line: a changed file is a one-line diff.
    assert '    ["train/cat/2.bin", 7, "' in text
    # The digest is documented: the lists' names and items as written, a line each.
    lines = []
    for section in SECTIONS:
        lines.append(section)
        lines += [json.dumps(item) for item in manifest[section]]
    assert manifest["digest"] == "blake3:" + b3(("\n".join(lines) + "\n").encode())
    assert result.stdout.startswith(f"pets: 4 files, 52 B, {manifest['digest']} -> ")
    assert "hashed 4" in result.stdout


def test_a_sha256_manifest_stays_sha256_until_the_entry_names_another(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)
    manifest_file = project / "lockfiles" / "data" / "pets.json"
    config = project / "repro.yaml"
    plain = config.read_text()
    config.write_text(plain.replace("{path: ", "{algorithm: sha256, path: "))
    assert repro_in_process(project, "data", "scan").returncode == 0
    # As a project from before blake3 became the default: the entry names no algorithm.
    config.write_text(plain)
    (data / "train" / "cat" / "2.bin").write_bytes(b"cat 2!")
    status = repro_in_process(project, "data", "status")
    assert status.returncode == 1, status.stderr
    assert "modified train/cat/2.bin" in status.stdout
    rescan = repro_in_process(project, "data", "scan")
    # The status hashed the changed file with sha256 into the cache; the rest was cached.
    assert "[hashed 0 (0 B), reused 4;" in rescan.stdout
    manifest = json.loads(manifest_file.read_text())
    assert manifest["algorithm"] == "sha256" and manifest["digest"].startswith("sha256:")
    assert ["train/cat/2.bin", 6, hashlib.sha256(b"cat 2!").hexdigest()] in manifest["entries"]

    config.write_text(plain.replace("{path: ", "{algorithm: blake3, path: "))
    mismatch = repro_in_process(project, "data", "status")
    assert mismatch.returncode == 2
    assert "hashed with sha256, repro.yaml asks for blake3" in mismatch.stderr
    assert "repro data scan pets" in mismatch.stderr
    assert "hashed 4" in repro_in_process(project, "data", "scan").stdout
    assert json.loads(manifest_file.read_text())["algorithm"] == "blake3"


def test_rescan_reuses_the_cache_and_rehashes_only_what_changed(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)
    assert repro_in_process(project, "data", "scan").returncode == 0

    again = repro_in_process(project, "data", "scan")
    assert again.returncode == 0, again.stderr
    assert "unchanged (stat check)" in again.stdout

    (data / "train" / "dog" / "2.bin").write_bytes(b"dog two")
    changed = repro_in_process(project, "data", "scan")
    assert changed.returncode == 0, changed.stderr
    assert "hashed 1 (7 B), reused 4" in changed.stdout
    entries = read_manifest(project / "lockfiles" / "data" / "pets.json").entries
    assert ("train/dog/2.bin", 7, b3(b"dog two")) in entries


def test_status_lists_modified_added_removed_and_renamed_files(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)
    assert repro_in_process(project, "data", "scan").returncode == 0
    clean = repro_in_process(project, "data", "status")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout == "pets: matches its manifest (quick check: size, mtime, inode)\n"

    (data / "train" / "cat" / "1.bin").write_bytes(b"cat ONE, longer")  # modified
    (data / "train" / "dog" / "3.bin").write_bytes(b"new dog")  # added
    (data / "train" / "cat" / "2.bin").unlink()  # removed
    (data / "train" / "dog" / "1.bin").rename(data / "train" / "dog" / "one.bin")  # renamed

    status = repro_in_process(project, "data", "status")
    assert status.returncode == 1
    assert status.stdout == (
        "pets: differs from its manifest (quick check: size, mtime, inode)\n"
        "  modified train/cat/1.bin\n"
        "  added train/dog/3.bin\n"
        "  removed train/cat/2.bin\n"
        "  renamed train/dog/1.bin -> train/dog/one.bin\n"
    )
    as_json = repro_in_process(project, "data", "status", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)["pets"]
    assert report["changed"] is True
    assert report["renamed"] == [{"from": "train/dog/1.bin", "to": "train/dog/one.bin"}]

    # The manifest is untouched by status; a scan takes the new state in.
    assert repro_in_process(project, "data", "scan").returncode == 0
    assert repro_in_process(project, "data", "status").returncode == 0


def test_same_size_rewrite_with_restored_mtime_is_seen_only_by_verify(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)
    assert repro_in_process(project, "data", "scan").returncode == 0
    target = data / "train" / "cat" / "1.bin"
    before = target.stat()
    with open(target, "r+b") as handle:  # in place: same inode, same size
        handle.write(b"CAT ONE")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_ino == before.st_ino

    quick = repro_in_process(project, "data", "status")
    # Invisible to the quick check by design (size, mtime and inode all match) ...
    assert quick.returncode == 0, quick.stdout
    assert "quick check: size, mtime, inode" in quick.stdout
    help_text = repro_in_process(project, "data", "status", "--help").stdout
    assert "invisible" in help_text and "--verify" in help_text

    # ... and caught by a full rehash.
    verify = repro_in_process(project, "data", "status", "--verify")
    assert verify.returncode == 1
    assert verify.stdout == (
        "pets: differs from its manifest (full rehash)\n  modified train/cat/1.bin\n"
    )
    scan = repro_in_process(project, "data", "scan", "--verify")
    assert scan.returncode == 0, scan.stderr
    assert "hashed 4" in scan.stdout
    entries = read_manifest(project / "lockfiles" / "data" / "pets.json").entries
    assert ("train/cat/1.bin", 7, b3(b"CAT ONE")) in entries


def test_symlinks_empty_folders_and_special_files_are_recorded_not_followed(
    tmp_path: Path,
) -> None:
    data = make_dataset(tmp_path / "pets")
    (data / "latest").symlink_to("train/cat")
    (data / "loop").symlink_to("loop")  # a symlink loop must not hang or crash the scan
    (data / "val" / "empty").mkdir(parents=True)
    os.mkfifo(data / "queue")
    project = make_project(tmp_path, data)

    result = repro_in_process(project, "data", "scan")

    assert result.returncode == 0, result.stderr
    assert "skipped queue: not a regular file (a fifo, socket or device)" in result.stderr
    manifest = json.loads((project / "lockfiles" / "data" / "pets.json").read_text())
    assert manifest["symlinks"] == [["latest", "train/cat"], ["loop", "loop"]]
    assert manifest["empty_folders"] == ["val/empty"]
    assert manifest["skipped"] == [["queue", "not a regular file (a fifo, socket or device)"]]
    assert manifest["files"] == 4  # nothing under the symlinked folder counted twice


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to uid 65534 with setpriv, needs root")
def test_unreadable_files_and_folders_are_skipped_with_a_word(
    request: pytest.FixtureRequest,
) -> None:
    """Root reads everything, so the scan runs as `nobody` against a real permission wall."""
    # pytest's own tmp folders are private to root: `nobody` needs a way in.
    base = Path(tempfile.mkdtemp(prefix="repro-data-perm-"))
    base.chmod(0o755)
    request.addfinalizer(lambda: _remove_locked(base))
    data = make_dataset(base / "pets")
    (data / "secret.bin").write_bytes(b"x")
    (data / "secret.bin").chmod(0)
    (data / "locked").mkdir()
    (data / "locked" / "inside.bin").write_bytes(b"y")
    (data / "locked").chmod(0)
    project = make_project(base, data)
    project.chmod(0o777)
    cache = base / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    code = "from reprostack.cli import main; main(['data', 'scan'])"
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", code],
        cwd=project, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
             "REPRO_CACHE_DIR": str(cache)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "skipped locked: folder not readable: permission denied" in result.stderr
    assert "skipped secret.bin: not readable: permission denied" in result.stderr
    manifest = json.loads((project / "lockfiles" / "data" / "pets.json").read_text())
    assert manifest["files"] == 4


def _remove_locked(base: Path) -> None:
    (base / "pets" / "locked").chmod(0o755)
    shutil.rmtree(base)


def test_a_single_file_dataset(tmp_path: Path) -> None:
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"\0" * 3000)
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(f"name: demo\ndata:\n  resnet: {weights}\n")
    assert repro_in_process(project, "data", "scan").returncode == 0
    manifest = json.loads((project / "lockfiles" / "data" / "resnet.json").read_text())
    assert manifest["entries"] == [["model.pth", 3000, b3(b"\0" * 3000)]]
    weights.write_bytes(b"\1" * 3000)
    status = repro_in_process(project, "data", "status")
    assert status.returncode == 1
    assert "modified model.pth" in status.stdout


def test_missing_dataset_is_a_warning_in_config_and_an_error_when_needed(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(
        f"name: demo\ndata:\n  pets: {{path: {data}}}\n  gone: {{path: /no/such/data}}\n"
    )
    ok = repro_in_process(project, "data", "scan", "pets")
    assert ok.returncode == 0, ok.stderr
    assert (
        "repro: warning: repro.yaml:4: data.gone.path: /no/such/data does not exist on this "
        "machine; commands that read it will stop" in ok.stderr
    )
    missing = repro_in_process(project, "data", "scan", "gone")
    assert missing.returncode == 3
    assert missing.stderr == (
        "repro: error: dataset gone: /no/such/data does not exist on this machine\n"
        "hint: mount or copy the data there, or change data.gone.path in repro.yaml\n"
    )
    unknown = repro_in_process(project, "data", "scan", "nope")
    assert unknown.returncode == 2
    assert "no dataset named nope in repro.yaml" in unknown.stderr


def test_a_damaged_cache_only_means_rehashing(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "pets")
    dataset = DatasetConfig("pets", data, str(data))
    manifest = tmp_path / "pets.json"
    first = scan_dataset(dataset, manifest)
    cache = HashCache(data, "blake3")
    cache.index.write_text("garbage without tabs\n")
    (data / "train" / "cat" / "2.bin").write_bytes(b"cat 2")
    second = scan_dataset(dataset, manifest)
    assert second.digest != first.digest
    assert (second.hashed, second.reused) == (4, 0)  # the index could not vouch for any
    cache.header_file.write_text("{not json")
    third = scan_dataset(dataset, manifest)
    assert (third.digest, third.hashed, third.unchanged) == (second.digest, 4, False)


def test_a_cache_that_cannot_be_written_costs_speed_not_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_dataset(tmp_path / "pets")
    project = make_project(tmp_path, data)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("REPRO_CACHE_DIR", str(blocker))
    for _ in range(2):
        result = repro_in_process(project, "data", "scan")
        assert result.returncode == 0, result.stderr
        assert "hashed 4" in result.stdout


def test_scan_results_do_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    root = many_files(tmp_path / "many")
    (root / "big.bin").write_bytes(os.urandom(3 << 20))  # over the read buffer
    dataset = DatasetConfig("many", root, str(root))
    digests = {
        scan_dataset(dataset, tmp_path / f"m{jobs}.json", verify=True, workers=jobs).digest
        for jobs in (1, 2, 5)
    }
    assert len(digests) == 1
    big = read_manifest(tmp_path / "m2.json").entries[0]
    assert big == ("big.bin", 3 << 20, b3((root / "big.bin").read_bytes()))


def many_files(root: Path, count: int = 300) -> Path:
    for index in range(count):
        folder = root / f"d{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}.bin").write_bytes(os.urandom(index * 37))
    return root


def test_a_process_running_threads_hashes_without_forking_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork copies other threads' locks as they are: such a process starts its hashing
    workers from a fork server, and walks in its own process."""
    root = many_files(tmp_path / "many")
    dataset = DatasetConfig("many", root, str(root), algorithm="blake3")
    expected = scan_dataset(dataset, tmp_path / "one.json", verify=True, workers=1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()

    def no_fork() -> int:
        raise AssertionError("forked while another thread runs")

    monkeypatch.setattr(os, "fork", no_fork)
    try:
        again = scan_dataset(dataset, tmp_path / "two.json", verify=True, workers=2)
    finally:
        stop.set()
        other.join()
    assert (again.digest, again.hashed) == (expected.digest, 300)


def test_a_worker_names_what_it_could_not_hash(tmp_path: Path) -> None:
    (tmp_path / "here.bin").write_bytes(b"here")
    (tmp_path / "a folder").mkdir()
    hashed = hash_paths(str(tmp_path), ["here.bin", "gone.bin", "a folder"], "sha256")
    here = (tmp_path / "here.bin").stat()
    # With the size, mtime and inode of the state that was hashed.
    assert hashed[0] == (sha256_hex(b"here"), "hashed", (4, here.st_mtime_ns, here.st_ino))
    assert hashed[1] == (None, "vanished during the scan", None)
    assert hashed[2] == (None, "not readable: is a directory", None)


def test_every_data_command_has_help_text() -> None:
    from click.testing import CliRunner

    from reprostack.cli import cli

    for name in ("scan", "status", "toy", "describe"):
        result = CliRunner().invoke(cli, ["data", name, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, name
        assert result.output.startswith(f"Usage: cli data {name} "), result.output
