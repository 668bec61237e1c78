"""Data commands under faults: a signal mid-scan, a file changed while hashed, a bad manifest.

Real processes, real signals and real files: the scan is a `repro` process of its own, its
workers are found in /proc, the files are changed on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from projects import REPRO, repro
from reprostack.config import DatasetConfig
from reprostack.data import integrity
from reprostack.data import scan as scan_module
from reprostack.data.hashing import HASH_TRIES, ChangedWhileHashed, hash_settled
from reprostack.data.integrity import DamagedManifest, check_layout
from reprostack.data.manifest import HEADER_KEYS, SECTIONS, read_header, read_manifest
from reprostack.data.scan import scan_dataset
from reprostack.data.walk import Entry
from reprostack.filehash import BUFFER_BYTES

pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test

pytestmark_linux = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` that are not zombies."""
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _proc_stat(int(name))
        if stat is not None and stat[2] == pgid and stat[0] != "Z":
            alive.append(int(name))
    return alive


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None and stat[0] != "Z":
                children.setdefault(stat[1], []).append(int(name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _tree(root: Path) -> Path:
    """Four sparse files of 8 GiB (made at once, no disk used): each takes a worker seconds
    to hash, so the scan is surely mid-hash when it is signalled. Small ones beside them."""
    for f in range(4):
        folder = root / f"class{f}"
        folder.mkdir(parents=True)
        with open(folder / "big.bin", "wb") as big:
            big.truncate(8 << 30)
        for i in range(20):
            (folder / f"{i:02d}.bin").write_bytes(os.urandom(512))
    return root


def _start_scan(tmp_path: Path, data: Path) -> subprocess.Popen[str]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(f"name: demo\ndata:\n  pets: {{path: {data}}}\n")
    # Output to files, not pipes: a worker left behind would hold a pipe open, not the test.
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        return subprocess.Popen(
            [*REPRO, "data", "scan", "-j", "2"], cwd=project, text=True,
            stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip


def _index_temps(cache: Path) -> list[Path]:
    return list(cache.glob("data/*/.index.*.tmp"))


@pytestmark_linux
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_scan_killed_mid_hash_leaves_no_worker_and_no_temp_file(
    tmp_path: Path, own_cache_dir: Path, signum: int
) -> None:
    data = _tree(tmp_path / "pets")
    scan = _start_scan(tmp_path, data)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    # Mid-hash: the new cache index is open and the hashing workers are up.
    while time.monotonic() < deadline and scan.poll() is None:
        workers = _descendants(scan.pid)
        if len(workers) >= 2 and _index_temps(own_cache_dir):
            break
        time.sleep(0.01)
    assert scan.poll() is None, "the scan ended before it could be signalled: make the tree bigger"
    assert len(workers) >= 2 and _index_temps(own_cache_dir)
    os.kill(scan.pid, signum)
    scan.wait(timeout=30)
    err = (tmp_path / "err").read_text()

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive_in_group(scan.pid):
        time.sleep(0.05)
    left = _alive_in_group(scan.pid)
    for pid in left:  # the test's own leftovers: never left running for the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes of the scan outlived it"
    if signum == signal.SIGTERM:
        assert scan.returncode == 143, err
        assert "Traceback" not in err
        assert "repro: terminated" in err
        assert _index_temps(own_cache_dir) == []
        assert not list((tmp_path / "project").glob("lockfiles/data/.*.tmp"))
    else:
        assert scan.returncode == -signal.SIGKILL


# A file changed while the scan hashes it ------------------------------------------------


class _RewritingHasher:
    """A real BLAKE3 whose first block received rewrites the file being hashed: the change
    lands mid-read, at a known point (the file is several read blocks long)."""

    def __init__(self, path: Path, times: int, content: bytes) -> None:
        self.path, self.times, self.content = path, times, content

    def __call__(self) -> _RewritingHasher:
        self.inner = blake3()
        self.first = True
        return self

    def update(self, data: object, /) -> object:
        if self.first and self.times > 0:
            self.times -= 1
            with open(self.path, "r+b") as handle:  # truncate and write, in place
                handle.truncate(0)
                handle.write(self.content)
            # mtime moves by the clock's tick: make sure it moved at all.
            info = self.path.stat()
            os.utime(self.path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
        self.first = False
        return self.inner.update(data)  # type: ignore[arg-type]

    def hexdigest(self) -> str:
        return str(self.inner.hexdigest())


def test_a_file_truncated_mid_hash_is_hashed_again_as_it_is_now(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * BUFFER_BYTES))
    new = b"short and new"
    digest, identity = hash_settled(str(big), "blake3", hasher=_RewritingHasher(big, 1, new))
    info = big.stat()
    assert digest == blake3(new).hexdigest()
    assert identity == (len(new), info.st_mtime_ns, info.st_ino)


def test_a_file_that_keeps_changing_is_flagged_not_hashed(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * BUFFER_BYTES))
    changing = _RewritingHasher(big, HASH_TRIES, os.urandom(2 * BUFFER_BYTES))
    with pytest.raises(ChangedWhileHashed):
        hash_settled(str(big), "blake3", hasher=changing)


def test_a_file_rewritten_between_walk_and_hash_is_recorded_as_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk's stat is taken long before a worker reads the file: the manifest records
    the size of the state that was hashed, never the walk's size beside the new content."""
    data = tmp_path / "pets"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 1000)
    (data / "b.bin").write_bytes(b"b" * 10)
    real_walk = scan_module.walk

    def walk_then_rewrite(root: Path) -> Iterator[Entry]:
        yield from real_walk(root)  # every entry statted by the real walk...
        with open(data / "a.bin", "r+b") as handle:  # ...then a.bin cut before it is hashed
            handle.truncate(3)
        os.utime(data / "a.bin", ns=(0, 10**9))

    monkeypatch.setattr(scan_module, "walk", walk_then_rewrite)
    manifest_file = tmp_path / "pets.json"
    summary = scan_dataset(DatasetConfig("pets", data, str(data)), manifest_file, workers=1)

    manifest = read_manifest(manifest_file)
    assert manifest.entries[0] == ("a.bin", 3, blake3(b"aaa").hexdigest())
    assert (summary.files, summary.bytes, summary.changed) == (2, 13, ["a.bin"])
    # The cache pairs the same state, so the next scan reuses the hash rightly.
    monkeypatch.setattr(scan_module, "walk", real_walk)
    again = scan_dataset(DatasetConfig("pets", data, str(data)), manifest_file, workers=1)
    assert (again.digest, again.hashed, again.changed) == (summary.digest, 0, [])


# A manifest that does not add up ---------------------------------------------------------


def _scanned_project(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "pets"
    (data / "cat").mkdir(parents=True)
    for index in range(3):
        (data / "cat" / f"{index}.bin").write_bytes(f"cat {index}".encode() * (index + 1))
    (data / "empty").mkdir()
    os.symlink("cat/0.bin", data / "latest")
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(f"name: demo\ndata:\n  pets: {{path: {data}}}\n")
    result = repro(project, "data", "scan")
    assert result.returncode == 0, result.stderr
    return project, project / "lockfiles" / "data" / "pets.json"


def _zero_hash(text: str) -> str:
    line = next(x for x in text.splitlines() if x.startswith('    ["cat/1.bin"'))
    return text.replace(line, line[: line.rfind('"', 0, -2) + 1] + "0" * 64 + '"],')


HAND_EDITS: dict[str, Any] = {
    "zeroed hash": _zero_hash,
    "changed size": lambda text: text.replace('["cat/1.bin", 10,', '["cat/1.bin", 11,'),
    "removed entry": lambda text: (
        "\n".join(x for x in text.splitlines() if not x.startswith('    ["cat/1.bin"')) + "\n"
    ),
    "path outside the data": lambda text: text.replace('"cat/1.bin"', '"../../../etc/passwd"'),
    "size of 10^400": lambda text: text.replace('["cat/1.bin", 10,', f'["cat/1.bin", {10**400},'),
    "truncated": lambda text: text[: len(text) * 2 // 3],
    "nested 100,000 deep": lambda text: "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("edit", list(HAND_EDITS))
def test_a_hand_edited_manifest_is_damaged_for_data_commands_and_rewritten_by_scan(
    tmp_path: Path, edit: str
) -> None:
    project, manifest = _scanned_project(tmp_path)
    good = manifest.read_text()
    edited = HAND_EDITS[edit](good)
    assert edited != good
    manifest.write_text(edited)

    status = repro(project, "data", "status")
    assert status.returncode == 2, (status.stdout, status.stderr)
    assert "matches" not in status.stdout
    assert f"{manifest} does not add up" in status.stderr
    assert "hint: rewrite it from the data with `repro data scan pets`" in status.stderr
    assert "Traceback" not in status.stderr
    describe = repro(project, "data", "describe", "pets")
    assert describe.returncode == 2, describe.stderr

    scan = repro(project, "data", "scan", "pets")
    assert scan.returncode == 0, scan.stderr
    assert "the manifest it replaced did not add up" in scan.stderr
    assert manifest.read_text() == good  # the edit is not kept: rewritten from the data
    assert repro(project, "data", "status").returncode == 0


def test_a_run_on_a_damaged_manifest_runs_and_records_that_nothing_was_checked(
    tmp_path: Path,
) -> None:
    project, manifest = _scanned_project(tmp_path)
    (project / "read.py").write_text("print('read')\n")
    manifest.write_text(manifest.read_text()[:-40])  # cut short: its header still reads
    result = repro(project, "run", "read.py")
    assert result.returncode == 0, result.stderr
    runs = sorted((project / "runs").iterdir())
    facts = json.loads((runs[-1] / "fingerprint.json").read_text())["data"]["pets"]
    assert facts["matches_manifest"] is None
    assert facts["digest"] is None
    assert "pets.json does not add up" in facts["note"]
    assert "`repro data scan pets`" in facts["note"]


def _valid_manifest(tmp_path: Path) -> Path:
    from reprostack.data.manifest import ManifestWriter
    from reprostack.data.walk import EMPTY, LINK, SKIP

    writer = ManifestWriter("blake3")
    with writer:
        for index in range(3):
            content = f"file {index}".encode()
            writer.add_file(f"a/{index}.bin", len(content), blake3(content).hexdigest())
        writer.add_other(Entry("b/link", LINK, note="../a/0.bin"))
        writer.add_other(Entry("c", EMPTY))
        writer.add_other(Entry("d/secret", SKIP, note="permission denied"))
        digest = writer.finish()
        header = {"schema_version": 1, "name": "pets", "path": "/data/pets",
                  "algorithm": "blake3", "digest": digest, "files": 3, "bytes": 18}  # fmt: skip
        dest = tmp_path / "pets.json"
        writer.write(dest, header)
    return dest


def _fields(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every editable field: (key,) of the header, (section, item, index or None)."""
    fields: list[tuple[Any, ...]] = [(key,) for key in HEADER_KEYS if key not in ("name", "path")]
    for section in SECTIONS:
        for item_index, item in enumerate(data[section]):
            if isinstance(item, list):
                fields += [(section, item_index, i) for i in range(len(item))]
            else:
                fields.append((section, item_index, None))
    return fields


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pick=st.integers(min_value=0, max_value=10_000),
    value=st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30),
        st.text(max_size=70),
        st.sampled_from(["0" * 64, "../x", "/etc/passwd", "a/0.bin", "blake3", "sha256"]),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.lists(st.integers(), max_size=3),
    ),
    layout=st.sampled_from(["as written", "reformatted"]),
)
def test_any_single_field_edit_of_a_valid_manifest_is_detected(
    tmp_path: Path, pick: int, value: Any, layout: str
) -> None:
    """The header's name and path are not under the digest, by design: a manifest is the
    same data whichever repro.yaml name or path it was scanned under."""
    dest = _valid_manifest(tmp_path)
    data = json.loads(dest.read_text())
    fields = _fields(data)
    field = fields[pick % len(fields)]
    if len(field) == 1:
        old = data[field[0]]
    elif field[2] is None:
        old = data[field[0]][field[1]]
    else:
        old = data[field[0]][field[1]][field[2]]
    assume(value != old or type(value) is not type(old))
    if len(field) == 1:
        data[field[0]] = value
    elif field[2] is None:
        data[field[0]][field[1]] = value
    else:
        data[field[0]][field[1]][field[2]] = value
    if layout == "as written":  # the line of that field edited, every other byte kept
        text = dest.read_text()
        lines = text.splitlines(keepends=True)
        if len(field) == 1:
            at = next(i for i, x in enumerate(lines) if x.startswith(f'  "{field[0]}":'))
            lines[at] = f'  "{field[0]}": {json.dumps(value)},\n'
        else:
            item = data[field[0]][field[1]]
            originals = [i for i, x in enumerate(lines) if x.startswith("    ")]
            start = next(i for i, x in enumerate(lines) if x.startswith(f'  "{field[0]}": ['))
            at = [i for i in originals if i > start][field[1]]
            comma = "," if lines[at].rstrip("\n").endswith(",") else ""
            lines[at] = f"    {json.dumps(item)}{comma}\n"
        dest.write_text("".join(lines))
    else:
        dest.write_text(json.dumps(data, indent=1))
    with pytest.raises(DamagedManifest):
        read_manifest(dest)
    with pytest.raises(DamagedManifest):
        read_header(dest)


def test_a_valid_manifest_reads_the_same_in_either_layout(tmp_path: Path) -> None:
    dest = _valid_manifest(tmp_path)
    raw = dest.read_bytes()
    start = raw.find(b'\n  "entries": [') + 1
    # repro's own layout is checked from its bytes (the run-start path), no entry parsed.
    assert check_layout(raw, start, json.loads(raw), dest) is True
    written = read_header(dest)
    manifest = read_manifest(dest)
    dest.write_text(json.dumps(json.loads(dest.read_text()), indent=1))
    assert read_header(dest) == written == manifest.header
    assert read_manifest(dest) == manifest


def test_a_manifest_past_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = _valid_manifest(tmp_path)
    monkeypatch.setattr(integrity, "MAX_MANIFEST_BYTES", dest.stat().st_size - 1)
    with pytest.raises(DamagedManifest, match="bytes, more than a manifest holds"):
        read_header(dest)
    with pytest.raises(DamagedManifest, match="bytes, more than a manifest holds"):
        read_manifest(dest)


CHILD_OF_A_KILLED_PARENT = """
import os, sys, time
from reprostack.data.lifeline import die_with_parent, watch_parent
parent = os.getpid()
pid = os.fork()
if pid == 0:
    if sys.argv[1] == "prctl":
        die_with_parent(parent)
    else:  # what a worker does where there is no prctl
        watch_parent()
    time.sleep(60)
    os._exit(0)
print(pid, flush=True)
time.sleep(60)
"""


@pytestmark_linux
@pytest.mark.parametrize("how", ["prctl", "watch"])
def test_a_forked_child_dies_with_its_parent_killed_by_sigkill(tmp_path: Path, how: str) -> None:
    """The walkers of the stat signature and the hashing workers call these first."""
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_A_KILLED_PARENT, how], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.3)  # the child is past its setup, asleep
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_proc_stat(child) or ("Z",))[0] != "Z":
        time.sleep(0.05)
    state = _proc_stat(child)
    if state is not None and state[0] != "Z":
        os.kill(child, signal.SIGKILL)
    assert state is None or state[0] == "Z", f"the child outlived its parent ({state})"
