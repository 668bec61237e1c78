"""``repro data`` against DVC, ``cat`` and ``find`` on the same generated trees.

python bench/data_bench.py                 # full sizes (100,000 files; 20 x 100 MiB; 1,000,000)
python bench/data_bench.py --scale 0.1     # a tenth of every tree, for a quick look
python bench/data_bench.py --skip-dvc      # no DVC (its venv is made on first use otherwise)

Goals (page cache warm, each figure side by side with its reference in the same run):
- cold scan >= 3x faster than ``dvc add`` of the same tree, and >= 60% of the raw read
  throughput of the same files (``cat`` to /dev/null);
- no-change re-scan >= 10x faster than ``dvc status``, within 2x of
  ``find -printf '%s %T@'`` over the tree;
- the data check inside ``repro run`` for the 100,000-file dataset adds <= 0.4 s;
- <= 200 MB RSS while scanning 1,000,000 small files.

Trees and DVC's venv live under /tmp/repro-data-bench and are reused between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import report
from blake3 import blake3

WORK = Path(os.environ.get("REPRO_DATA_BENCH_DIR", "/tmp/repro-data-bench"))
DVC_VENV = WORK / "dvc-venv"
REPRO = [sys.executable, "-m", "reprostack"]
POOL_BYTES = 64 << 20  # file contents are slices of one random pool at random offsets


def make_tree(folder: Path, sizes: list[int], per_folder: int = 1000) -> Path:
    """Files of the given sizes in folders of ``per_folder``; made once, reused after."""
    done = folder / ".complete"
    if done.exists():
        return folder / "data"
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(len(sizes))
    pool = os.urandom(POOL_BYTES)
    data = folder / "data"
    for index, size in enumerate(sizes):
        sub = data / f"part{index // per_folder:04d}"
        if index % per_folder == 0:
            sub.mkdir(parents=True)
        with open(sub / f"f{index:07d}.bin", "wb") as out:
            left = size
            while left:
                start = rng.randrange(0, POOL_BYTES - min(left, 1 << 20))
                chunk = pool[start : start + min(left, 1 << 20)]
                out.write(chunk)
                left -= len(chunk)
    done.touch()
    return data


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def project(folder: Path, tree: Path, algorithm: str = "blake3") -> Path:
    """A repro project (a git repo) whose repro.yaml names ``tree`` as dataset ``d``.

    The algorithm is written out (blake3 is the default) so that a manifest left by an older
    run of this benchmark, which would keep its own algorithm, cannot choose it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "repro.yaml").write_text(
        f"name: bench\ndata:\n  d: {{path: {tree}, algorithm: {algorithm}}}\n"
    )
    (folder / "noop.py").write_text("")
    (folder / ".gitignore").write_text("/runs/\n")
    if not (folder / ".git").exists():
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com"]
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
        subprocess.run([*git, "commit", "-qm", "bench"], cwd=folder, check=True)
    return folder


def repro_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "REPRO_CACHE_DIR": str(cache)}


def dvc_bin() -> Path:
    """DVC in its own venv (installed from the package index on first use)."""
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return dvc


def dvc_env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1"}


def dvc_cleanup(tree: Path) -> None:
    repo = tree.parent
    shutil.rmtree(repo / ".dvc", ignore_errors=True)
    (repo / "data.dvc").unlink(missing_ok=True)
    (repo / ".dvcignore").unlink(missing_ok=True)


def dvc_add(tree: Path) -> tuple[float, tuple[list[str], dict[str, object]]]:
    """``dvc add`` of the tree in a fresh DVC project; then ``dvc status`` as a side to time
    (the project stays until ``dvc_cleanup``)."""
    dvc = str(dvc_bin())
    repo = tree.parent
    dvc_cleanup(tree)
    env = dvc_env()
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True, env=env)
    # Hard links: DVC's cost is then its hashing and bookkeeping, not copying the data.
    subprocess.run([dvc, "config", "cache.type", "hardlink"], cwd=repo, check=True, env=env)
    add = timed([dvc, "add", "data"], cwd=repo, env=env)
    return add, ([dvc, "status"], {"cwd": repo, "env": env})


def dvc_status_side(tree: Path) -> tuple[list[str], dict[str, object]]:
    """``dvc status`` of the project ``dvc_add`` left (made again if it is gone)."""
    if not (tree.parent / "data.dvc").exists():
        dvc_add(tree)
    return [str(dvc_bin()), "status"], {"cwd": tree.parent, "env": dvc_env()}


CPU: dict[str, float] = {}  # median CPU seconds (user + system) of each name last timed


def interleaved(
    commands: dict[str, tuple[list[str], dict[str, object]]],
    rounds: int,
    before: dict[str, object] | None = None,
) -> dict[str, float]:
    """Median wall seconds of each command, run in turns (a, b, c, a, b, c, ...): on a shared
    machine a burst of load then hits every side alike. Median CPU seconds go to ``CPU``
    (steadier than the wall clock while others use the cores). ``before`` runs untimed
    before each turn of a name (a callable: removing a cache)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (cmd, kwargs) in commands.items():
            if before and name in before:
                before[name]()  # type: ignore[operator]
            start = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name].append(timed(cmd, **kwargs))  # type: ignore[arg-type]
            end = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[name].append(end.ru_utime - start.ru_utime + end.ru_stime - start.ru_stime)
    CPU.update((name, statistics.median(values)) for name, values in cpus.items())
    return {name: statistics.median(values) for name, values in times.items()}


def hash_limit(algorithm: str) -> float:
    """MiB/s of ``algorithm`` over in-memory data on every usable core at once: what hashing
    alone allows, with no file read at all."""
    from concurrent.futures import ThreadPoolExecutor

    cores = len(os.sched_getaffinity(0))
    block = os.urandom(64 << 20)

    def hash_some(_: int) -> None:
        hasher = blake3() if algorithm == "blake3" else hashlib.sha256()
        for _ in range(4):
            hasher.update(block)

    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(hash_some, range(cores)))  # warm
        start = time.perf_counter()
        list(pool.map(hash_some, range(cores)))
        return cores * 256 / (time.perf_counter() - start)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


CHECK_PROBE = """\
import statistics, sys, time
from pathlib import Path
from reprostack.config import load_config
from reprostack.data.check import check_dataset
config = load_config(Path("."))
dataset = config.data["d"]
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    facts = check_dataset(config, dataset)
    times.append(time.perf_counter() - start)
assert facts["matches_manifest"] is True, facts
print(statistics.median(times), facts["check"])
"""


def scan_tree(name: str, tree: Path, total_bytes: int, with_dvc: bool, check_run: bool,
              rounds: int) -> None:  # fmt: skip
    print(f"\n### {name}: {tree} ({load()})", flush=True)
    key = tree.parent.name  # small-100000, large-104857600
    proj = project(WORK / f"{key}-project", tree)
    cache = WORK / f"{key}-cache"
    env = repro_env(cache)
    cat = ["sh", "-c", f"find {tree} -type f -print0 | xargs -0 cat > /dev/null"]
    timed(cat)  # the page cache warm for both sides
    scan_cmd = [*REPRO, "data", "scan", "--verify"]
    cold = interleaved(
        {"cat": (cat, {}), "scan": (scan_cmd, {"cwd": proj, "env": env})},
        min(rounds, 3),  # a cold scan of the small tree takes a minute on a busy machine
        before={"scan": lambda: shutil.rmtree(cache, ignore_errors=True)},
    )
    raw, scan = cold["cat"], cold["scan"]
    mib = total_bytes / (1 << 20)
    print(f"cat {raw:.2f} s ({mib / raw:.0f} MiB/s); repro cold scan {scan:.2f} s "
          f"({mib / scan:.0f} MiB/s)")  # fmt: skip
    report(f"{name}: cold scan throughput / cat's", raw / scan, ">= 0.60", raw / scan >= 0.6)
    for algorithm in ("blake3", "sha256"):
        limit = hash_limit(algorithm)
        print(f"{algorithm} of memory on every core: {limit:.0f} MiB/s, so no {algorithm} "
              f"scan passes {limit / (mib / raw):.2f} of cat's throughput here")  # fmt: skip
    if with_dvc:
        add, _status = dvc_add(tree)
        print(f"dvc add {add:.2f} s", flush=True)
        report(f"{name}: dvc add / repro cold scan", add / scan, ">= 3", add / scan >= 3)
    if not check_run:  # the re-scan and run goals are for the 100,000-file tree
        return
    find = ["find", str(tree), "-printf", "%s %T@\n"]
    sides: dict[str, tuple[list[str], dict[str, object]]] = {
        "rescan": ([*REPRO, "data", "scan"], {"cwd": proj, "env": env}),
        "find": (find, {}),
    }
    if with_dvc:
        sides["dvc status"] = dvc_status_side(tree)
    again = interleaved(sides, rounds)
    print(f"re-scan {again['rescan']:.3f} s; find {again['find']:.3f} s" + (
        f"; dvc status {again['dvc status']:.3f} s" if with_dvc else ""))  # fmt: skip
    print(f"CPU seconds: re-scan {CPU['rescan']:.3f}, find {CPU['find']:.3f} "
          f"(ratio {CPU['rescan'] / CPU['find']:.2f})")  # fmt: skip
    report(f"{name}: no-change re-scan / find -printf", again["rescan"] / again["find"],
           "<= 2", again["rescan"] / again["find"] <= 2)  # fmt: skip
    if with_dvc:
        ratio = again["dvc status"] / again["rescan"]
        report(f"{name}: dvc status / repro re-scan", ratio, ">= 10", ratio >= 10)
        dvc_cleanup(tree)
    bare = project(WORK / f"{key}-bare", tree)
    (bare / "repro.yaml").write_text("name: bench\n")
    noop = [*REPRO, "run", "--local", "noop.py"]
    runs = interleaved({"with": (noop, {"cwd": proj, "env": env}),
                        "without": (noop, {"cwd": bare, "env": env})}, 2 * rounds)  # fmt: skip
    added = runs["with"] - runs["without"]
    print(f"repro run with the dataset {runs['with']:.2f} s, without {runs['without']:.2f} s; "
          f"CPU seconds {CPU['with']:.2f} and {CPU['without']:.2f}")  # fmt: skip
    check = subprocess.run([sys.executable, "-c", CHECK_PROBE, "9"], cwd=proj, env=env,
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    print(f"the data check itself (in process, median of 9): {check.strip()}")
    report(f"{name}: data check added to repro run's start", added, "<= 0.4", added <= 0.4,
           " s")  # fmt: skip


def algorithms(tree: Path, total_bytes: int) -> None:
    """The same cold scan with blake3 (the default) and with sha256, for the record."""
    for algorithm in ("sha256", "blake3"):
        proj = project(WORK / f"algo-{algorithm}", tree, algorithm)
        cache = WORK / f"algo-{algorithm}-cache"
        shutil.rmtree(cache, ignore_errors=True)
        seconds = timed([*REPRO, "data", "scan", "--verify"], cwd=proj, env=repro_env(cache))
        print(f"cold scan with {algorithm}: {seconds:.2f} s "
              f"({total_bytes / (1 << 20) / seconds:.0f} MiB/s)")  # fmt: skip


def tree_rss_kb(root_pid: int) -> int:
    """The summed RSS of ``root_pid`` and every process below it (shared pages counted in
    each process: an upper bound of what the tree holds)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def memory(count: int) -> None:
    tree = make_tree(WORK / f"million-{count}", [random.Random(i).randrange(1, 1024)
                                                for i in range(count)])  # fmt: skip
    proj = project(WORK / "million-project", tree)
    cache = WORK / "million-cache"
    shutil.rmtree(cache, ignore_errors=True)
    # The scan's main process and its hashing workers together, sampled every 0.2 s.
    start = time.perf_counter()
    scan = subprocess.Popen([*REPRO, "data", "scan"], cwd=proj, env=repro_env(cache),
                            stdout=subprocess.DEVNULL)  # fmt: skip
    peak_kb = 0
    while scan.poll() is None:
        peak_kb = max(peak_kb, tree_rss_kb(scan.pid))
        time.sleep(0.2)
    seconds, peak_mb = time.perf_counter() - start, peak_kb / 1024
    if scan.returncode != 0:
        raise SystemExit(f"the scan of {count:,} files failed with {scan.returncode}")
    print(f"\n### {count:,} small files: cold scan {seconds:.1f} s, peak RSS {peak_mb:.0f} MB "
          "(the scan's processes summed)")  # fmt: skip
    report(f"peak RSS scanning {count:,} files", peak_mb, "<= 200", peak_mb <= 200, " MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every tree")
    parser.add_argument("--skip-dvc", action="store_true")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="turns of each timed pair")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} usable cores; {load()} at the start")
    rng = random.Random(0)
    small_count = int(100_000 * args.scale)
    small_sizes = [rng.randrange(1 << 10, (64 << 10) + 1) for _ in range(small_count)]
    small = make_tree(WORK / f"small-{small_count}", small_sizes)
    large_size = int((100 << 20) * args.scale)
    large = make_tree(WORK / f"large-{large_size}", [large_size] * 20, per_folder=20)
    scan_tree(f"{small_count:,} files of 1-64 KiB", small, sum(small_sizes), not args.skip_dvc,
              True, args.rounds)  # fmt: skip
    scan_tree(f"20 files of {large_size >> 20} MiB", large, 20 * large_size, not args.skip_dvc,
              False, args.rounds)  # fmt: skip
    algorithms(large, 20 * large_size)
    if not args.skip_million:
        memory(int(1_000_000 * args.scale))
    print(f"\n{load()} at the end")


if __name__ == "__main__":
    main()
