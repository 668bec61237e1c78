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


def cpu_seconds(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> float:
    """User + system CPU of one run: on a shared machine the wall clock measures the others."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    timed(cmd, cwd=cwd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(cmd: list[str], runs: int = 5, **kwargs: object) -> float:
    return statistics.median(timed(cmd, **kwargs) for _ in range(runs))  # type: ignore[arg-type]


def project(folder: Path, tree: Path, algorithm: str = "sha256") -> Path:
    """A repro project (a git repo) whose repro.yaml names ``tree`` as dataset ``d``."""
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


def raw_read(tree: Path) -> float:
    """``cat`` of every file to /dev/null (GNU cat, 128 KiB reads), second of two runs."""
    cmd = ["sh", "-c", f"find {tree} -type f -print0 | xargs -0 cat > /dev/null"]
    timed(cmd)
    return timed(cmd)


def dvc_bin() -> Path:
    """DVC in its own venv (installed from the package index on first use)."""
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return dvc


def dvc_add(tree: Path) -> tuple[float, float]:
    """(``dvc add`` of the tree in a fresh DVC project, median ``dvc status`` after it)."""
    dvc = str(dvc_bin())
    repo = tree.parent
    for leftover in (repo / ".dvc", repo / "data.dvc", repo / ".dvcignore"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(
            missing_ok=True
        )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True, env=env)
    # Hard links: DVC's cost is then its hashing and bookkeeping, not copying the data.
    subprocess.run([dvc, "config", "cache.type", "hardlink"], cwd=repo, check=True, env=env)
    add = timed([dvc, "add", "data"], cwd=repo, env=env)
    status = median([dvc, "status"], runs=3, cwd=repo, env=env)
    shutil.rmtree(repo / ".dvc", ignore_errors=True)
    (repo / "data.dvc").unlink(missing_ok=True)
    return add, status


def scan_tree(name: str, tree: Path, total_bytes: int, with_dvc: bool, check_run: bool) -> None:
    print(f"\n### {name}: {tree}", flush=True)
    key = tree.parent.name  # small-100000, large-104857600
    proj = project(WORK / f"{key}-project", tree)
    cache = WORK / f"{key}-cache"
    env = repro_env(cache)
    raw = raw_read(tree)
    colds = []
    for _ in range(3):
        shutil.rmtree(cache, ignore_errors=True)
        colds.append(timed([*REPRO, "data", "scan", "--verify"], cwd=proj, env=env))
    cold = statistics.median(colds)
    rescan = median([*REPRO, "data", "scan"], cwd=proj, env=env)
    find = median(["find", str(tree), "-printf", "%s %T@\n"], runs=5)
    mib = total_bytes / (1 << 20)
    print(f"cat {raw:.2f} s ({mib / raw:.0f} MiB/s); repro cold scan {cold:.2f} s "
          f"({mib / cold:.0f} MiB/s); re-scan {rescan:.3f} s; find {find:.3f} s")  # fmt: skip
    report(f"{name}: cold scan throughput / cat's", raw / cold, ">= 0.60", raw / cold >= 0.6)
    if check_run:
        rescan_cpu = statistics.median(
            cpu_seconds([*REPRO, "data", "scan"], cwd=proj, env=env) for _ in range(5)
        )
        find_cpu = statistics.median(
            cpu_seconds(["find", str(tree), "-printf", "%s %T@\n"]) for _ in range(5)
        )
        print(f"CPU seconds: re-scan {rescan_cpu:.3f}, find {find_cpu:.3f} "
              f"(ratio {rescan_cpu / find_cpu:.2f})")  # fmt: skip
    if check_run:  # the re-scan goals are for the 100,000-file tree; 20 files only time startup
        report(f"{name}: no-change re-scan / find -printf", rescan / find, "<= 2",
               rescan / find <= 2)  # fmt: skip
    if with_dvc:
        add, status = dvc_add(tree)
        print(f"dvc add {add:.2f} s; dvc status {status:.3f} s", flush=True)
        report(f"{name}: dvc add / repro cold scan", add / cold, ">= 3", add / cold >= 3)
        if check_run:
            report(f"{name}: dvc status / repro re-scan", status / rescan, ">= 10",
                   status / rescan >= 10)  # fmt: skip
    if check_run:
        bare = project(WORK / f"{key}-bare", tree)
        (bare / "repro.yaml").write_text("name: bench\n")
        runs, bares = [], []
        for _ in range(5):
            runs.append(timed([*REPRO, "run", "--local", "noop.py"], cwd=proj, env=env))
            bares.append(timed([*REPRO, "run", "--local", "noop.py"], cwd=bare, env=env))
        added = statistics.median(runs) - statistics.median(bares)
        run_cpu = statistics.median(
            cpu_seconds([*REPRO, "run", "--local", "noop.py"], cwd=proj, env=env) for _ in range(5)
        )
        bare_cpu = statistics.median(
            cpu_seconds([*REPRO, "run", "--local", "noop.py"], cwd=bare, env=env) for _ in range(5)
        )
        print(f"CPU seconds: repro run with the dataset {run_cpu:.2f}, without {bare_cpu:.2f} "
              f"(added {run_cpu - bare_cpu:.2f})")  # fmt: skip
        print(f"repro run with the dataset {statistics.median(runs):.2f} s, without "
              f"{statistics.median(bares):.2f} s")  # fmt: skip
        report(f"{name}: data check added to repro run's start", added, "<= 0.4", added <= 0.4,
               " s")  # fmt: skip


def algorithms(tree: Path, total_bytes: int) -> None:
    """The same cold scan with sha256 and with blake3 (the `fast` extra), for the record."""
    for algorithm in ("sha256", "blake3"):
        proj = project(WORK / f"algo-{algorithm}", tree, algorithm)
        cache = WORK / f"algo-{algorithm}-cache"
        shutil.rmtree(cache, ignore_errors=True)
        seconds = timed([*REPRO, "data", "scan", "--verify"], cwd=proj, env=repro_env(cache))
        print(f"cold scan with {algorithm}: {seconds:.2f} s "
              f"({total_bytes / (1 << 20) / seconds:.0f} MiB/s)")  # fmt: skip


def memory(count: int) -> None:
    tree = make_tree(WORK / f"million-{count}", [random.Random(i).randrange(1, 1024)
                                                for i in range(count)])  # fmt: skip
    proj = project(WORK / "million-project", tree)
    cache = WORK / "million-cache"
    shutil.rmtree(cache, ignore_errors=True)
    # A fresh parent, so the peak is this scan's alone (RUSAGE_CHILDREN keeps the maximum
    # over every child ever waited for, DVC's included).
    probe = (
        "import resource, subprocess, sys, time; start = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - start, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *REPRO, "data", "scan"],
        cwd=proj, env=repro_env(cache), check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    seconds, peak_mb = float(out[0]), int(out[1]) / 1024
    print(f"\n### {count:,} small files: cold scan {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    report(f"peak RSS scanning {count:,} files", peak_mb, "<= 200", peak_mb <= 200, " MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every tree")
    parser.add_argument("--skip-dvc", action="store_true")
    parser.add_argument("--skip-million", action="store_true")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} usable cores; load average {os.getloadavg()[0]:.1f} at the start")
    rng = random.Random(0)
    small_count = int(100_000 * args.scale)
    small_sizes = [rng.randrange(1 << 10, (64 << 10) + 1) for _ in range(small_count)]
    small = make_tree(WORK / f"small-{small_count}", small_sizes)
    large_size = int((100 << 20) * args.scale)
    large = make_tree(WORK / f"large-{large_size}", [large_size] * 20, per_folder=20)
    scan_tree(f"{small_count:,} files of 1-64 KiB", small, sum(small_sizes), not args.skip_dvc,
              True)  # fmt: skip
    scan_tree(f"20 files of {large_size >> 20} MiB", large, 20 * large_size, not args.skip_dvc,
              False)  # fmt: skip
    algorithms(large, 20 * large_size)
    if not args.skip_million:
        memory(int(1_000_000 * args.scale))


if __name__ == "__main__":
    main()
