"""What recording a run's inputs costs the run: 10,000 small files and 2 GB of weights.

A project in a temporary folder runs ``repro run --local read.py`` with ``run.inputs`` on and
off, interleaved in pairs so both sides see the same machine load. The script times itself
(opening and reading every file), so the figure is the run itself, as the goal states;
repro's work after the command (stat, hash, inputs.json) is shown beside it as information,
for a first run (every file hashed) and a later one (hashes reused from the earlier run).

python bench/inputs_bench.py [--weights-mb 2048] [--files 10000] [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, report

GOAL = 1.05
WEIGHT_FILES = 4  # under the 1 GiB hash limit each, so all of it is hashed

READ = """\
import sys, time
from pathlib import Path
start, cpu = time.perf_counter(), time.process_time()
for path in sorted(Path(sys.argv[1]).iterdir()):
    with open(path, "rb") as f:
        f.read()
for path in sorted(Path(sys.argv[2]).iterdir()):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
print(f"elapsed {time.perf_counter() - start:.6f} cpu {time.process_time() - cpu:.6f}")
"""


def make_inputs(folder: Path, files: int, weights_mb: int) -> tuple[Path, Path]:
    small, weights = folder / "small", folder / "weights"
    small.mkdir()
    weights.mkdir()
    for index in range(files):
        (small / f"{index:05d}.json").write_text(json.dumps({"i": index, "pad": "x" * 100}))
    block = os.urandom(1 << 20)
    for index in range(WEIGHT_FILES):
        with open(weights / f"shard-{index}.bin", "wb") as handle:
            for _ in range(weights_mb // WEIGHT_FILES):
                handle.write(block)
    return small, weights


def make_project(folder: Path, inputs: bool) -> Path:
    project = folder / ("on" if inputs else "off")
    project.mkdir()
    run_keys = "" if inputs else "  inputs: off\n"
    (project / "repro.yaml").write_text(
        f'name: bench\npython: "3.11"\ncuda: "none"\nrun:\n{run_keys}'
    )
    (project / "read.py").write_text(READ)
    (project / ".gitignore").write_text("runs/\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", "-C", str(project), *args], check=True, env=env)
    return project


def one_run(project: Path, small: Path, weights: Path) -> tuple[float, float, float]:
    """(the command's own seconds, repro's whole wall time, the command's CPU seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reprostack", "run", "--local", "read.py", str(small), str(weights)],
        cwd=project, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    total = time.perf_counter() - start
    newest = sorted((project / "runs").iterdir())[-1]
    line = (newest / "stdout.log").read_text().split()
    return float(line[line.index("elapsed") + 1]), total, float(line[line.index("cpu") + 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-mb", type=int, default=2048)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="inputs-bench-") as tmp:
        folder = Path(tmp)
        small, weights = make_inputs(folder, args.files, args.weights_mb)
        on, off = make_project(folder, True), make_project(folder, False)
        first_on = one_run(on, small, weights)  # hashes everything: later runs reuse it
        one_run(off, small, weights)
        runs: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
        for index in range(args.pairs):
            order = (("on", on), ("off", off)) if index % 2 == 0 else (("off", off), ("on", on))
            for name, project in order:
                runs[name].append(one_run(project, small, weights))
        recorded = json.loads(next((on / "runs").glob("*/inputs.json")).read_text())
    own = {name: statistics.median(r[0] for r in values) for name, values in runs.items()}
    # Each pair ran back to back: the median of the pairs' ratios cancels most of the load.
    paired = statistics.median(a[0] / b[0] for a, b in zip(runs["on"], runs["off"], strict=True))
    total = {name: statistics.median(r[1] for r in values) for name, values in runs.items()}
    what = f"{args.files} files + {args.weights_mb} MB"
    print(f"{'':<40} {'capture':>10} {'inputs: off':>12}")
    print(f"{'the run itself (median, s)':<40} {own['on']:>10.3f} {own['off']:>12.3f}")
    print(f"{'repro run, whole wall (median, s)':<40} {total['on']:>10.3f} {total['off']:>12.3f}")
    cpu = {name: statistics.median(r[2] for r in values) for name, values in runs.items()}
    print(f"{'the run itself, CPU (median, s)':<40} {cpu['on']:>10.3f} {cpu['off']:>12.3f}")
    print(f"{'first capture run: itself / whole (s)':<40} {first_on[0]:>10.3f} {first_on[1]:>8.3f}")
    print(f"recorded: {len(recorded['files'])} files in inputs.json ({what})")
    print("each run itself, capture: " + " ".join(f"{r[0]:.3f}" for r in runs["on"]))
    print("each run itself, off:     " + " ".join(f"{r[0]:.3f}" for r in runs["off"]))
    print(f"ratio of the medians: {own['on'] / own['off']:.3f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ratio = paired
    report(
        f"capture vs off, median of paired ratios ({what})",
        ratio,
        f"<= {GOAL}x",
        ratio <= GOAL,
        "x",
    )
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
