"""Data commands under faults: a signal mid-scan, a file changed while hashed, a bad manifest.

Real processes, real signals and real files: the scan is a `repro` process of its own, its
workers are found in /proc, the files are changed on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projects import REPRO

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
