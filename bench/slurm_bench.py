"""Cluster runs against what a user would type without repro (goals from issue 12).

1. Submit: ``repro run --slurm --local -- CMD`` vs a bare ``sbatch`` of the same job.sbatch
   (goal: at most +0.5 s). Jobs are submitted held and cancelled, so the figure is the
   submission alone.
2. On the node: from the job's start to the user's command starting, ``python -m
   reprostack.cluster.node`` with runtime docker vs a bare ``docker run`` of the same image by
   digest (goal: repro's share at most 1.5 s). The image is the suite's base image pushed to
   the loopback registry.

Needs the test cluster and engine: ``eval "$(ci/slurm.sh start)"; eval "$(ci/engine.sh env)";
eval "$(ci/registry.sh env)"``. Run: ``.venv/bin/python bench/slurm_bench.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, report

sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

RUNS = 5
STAMP = "import time; print(f'{time.time():.6f}', flush=True)"


def project(root: Path, sbatch: str) -> Path:
    from projects import demo_project

    path = demo_project(root)
    text = (path / "repro.yaml").read_text() + f"cluster:\n  slurm:\n    sbatch: [{sbatch}]\n"
    (path / "repro.yaml").write_text(text)
    return path


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def submit_times(root: Path) -> tuple[float, float]:
    """Median seconds of a repro submission and of a bare sbatch of its script."""
    path = project(root / "submit", "'--hold'")
    repro = [sys.executable, "-m", "reprostack", "run", "--slurm", "--local", "--", "true"]
    jobs: list[str] = []
    ours, bare = [], []
    timed(repro, path)  # warm-up: imports from disk
    for _ in range(RUNS):
        seconds, out = timed(repro, path)
        ours.append(seconds)
        run_id, job = out.split()
        jobs.append(job)
        script = path / "runs" / run_id / "job.sbatch"
        seconds, out = timed(["sbatch", "--parsable", str(script)], path)
        bare.append(seconds)
        jobs.append(out.strip())
    subprocess.run(["scancel", *jobs], check=True)
    return statistics.median(ours), statistics.median(bare)


def node_times(root: Path) -> tuple[float, float]:
    """Median seconds from start to the command's first line: repro's node entry, bare docker."""
    import docker

    from cluster_images import pushed_base
    from reprostack.cluster.image import split_ref
    from reprostack.cluster.script import SlurmOptions
    from reprostack.cluster.submit import submit_slurm
    from reprostack.config import load_config
    from reprostack.record.request import RunRequest

    client = docker.from_env()  # DOCKER_HOST, as the tests' docker_client
    base = os.environ.get("REPRO_BASE_IMAGE", "local/debian-python:bookworm")
    ref = pushed_base(client, base, os.environ.get("REPRO_REGISTRY", "127.0.0.1:5555"))
    image = split_ref(ref)
    path = project(root / "node", "'--hold'")
    config = load_config(path)
    ours, bare = [], []
    for _ in range(RUNS + 1):
        request = RunRequest(argv=["python3", "-c", STAMP], mode="dev", cwd=path)
        (record,) = submit_slurm(config, request, SlurmOptions(runtime="docker"), image=image)
        subprocess.run(["scancel", str((record.scheduler or {})["job_id"])], check=True)
        folder = config.runs_dir / record.id
        start = time.time()
        subprocess.run(
            [sys.executable, "-m", "reprostack.cluster.node", str(folder)],
            cwd=path,
            check=True,
            capture_output=True,
        )
        ours.append(float((folder / "stdout.log").read_text().split()[0]) - start)
        start = time.time()
        _, out = timed(["docker", "run", "--rm", ref, "python3", "-c", STAMP], path)
        bare.append(float(out.split()[0]) - start)
    return statistics.median(ours[1:]), statistics.median(bare[1:])


def main() -> None:
    try:
        up = subprocess.run(["sinfo", "-h"], capture_output=True, check=False, timeout=10)
        answered = up.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        answered = False
    if not answered:
        print('slurm bench: no Slurm cluster answers; start one: eval "$(ci/slurm.sh start)"')
        sys.exit(3)
    with tempfile.TemporaryDirectory(prefix="repro-slurm-bench-") as tmp:
        ours, bare = submit_times(Path(tmp))
        report("slurm submit: repro run --slurm (s)", ours, "", True)
        report("slurm submit: bare sbatch of the same script (s)", bare, "", True)
        report("slurm submit: repro's extra (s)", ours - bare, "<= 0.5 s", ours - bare <= 0.5)
        ours, bare = node_times(Path(tmp))
        report("on the node: job start -> command, repro docker (s)", ours, "", True)
        report("on the node: job start -> command, bare docker run (s)", bare, "", True)
        report("on the node: repro's share (s)", ours - bare, "<= 1.5 s", ours - bare <= 1.5)


if __name__ == "__main__":
    main()
