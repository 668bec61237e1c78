"""`repro lock` against the raw lock tools on a realistic ML input set (warm caches).

    python bench/lock_bench.py

uv: ~30 direct ML packages (torch pinned), `repro lock --prod` from no lock vs
`uv pip compile --generate-hashes` for the same target. pip-compile downloads and hashes every
file of every release it pins when the index's JSON does not match its pages (minutes for the
ML set), so it is compared on a small set, from no lock, after a warm-up run. A re-lock with
nothing changed must do no resolution at all. Goals: ratio <= 1.15, re-lock <= 0.3 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _common import report, wall

ML_SET = """\
numpy
scipy
pandas
scikit-learn
matplotlib
seaborn
pyyaml
tqdm
tensorboard
torch==2.5.1
torchvision==0.20.1
transformers
tokenizers
safetensors
datasets
accelerate
einops
hydra-core
omegaconf
pillow
h5py
rich
requests
pydantic
lightning
timm
opencv-python-headless
sentencepiece
protobuf
wandb
"""
SMALL_SET = "requests\npyyaml\ntqdm\nclick\n"
RUNS = 5  # network answers vary by tenths of a second: a median of 5 pairs steadies it
PY, PLATFORM = "3.11", "x86_64-unknown-linux-gnu"


def clean_env() -> dict[str, str]:
    """The environment repro gives its tools, so the raw tool sees the same index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    if os.environ.get("SSL_CERT_FILE"):
        env["PIP_CERT"] = os.environ["SSL_CERT_FILE"]
    return env


def project(folder: Path, tool: str, inputs: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "repro.yaml").write_text(f'name: bench\npython: "{PY}"\nlock: {{tool: {tool}}}\n')
    (folder / "requirements.in").write_text(inputs)
    return folder


def timed_pair(repro_cmd: list[str], raw_cmd: list[str], folder: Path) -> tuple[float, float]:
    """Median wall time of repro and of the raw tool, alternating, each from no lock."""
    env = clean_env()
    ours, raw = [], []
    for _ in range(RUNS + 1):  # the first round warms the caches and is dropped
        shutil.rmtree(folder / "lockfiles", ignore_errors=True)
        (folder / "raw.txt").unlink(missing_ok=True)
        ours.append(wall(repro_cmd, cwd=folder))
        raw.append(wall(raw_cmd, cwd=folder, env=env))
    return statistics.median(ours[1:]), statistics.median(raw[1:])


def main() -> int:
    bindir = Path(sys.executable).parent
    # The installed entry point: what users run, interpreter start-up included.
    repro = [str(bindir / "repro")]
    if not (bindir / "repro").exists():
        repro = [sys.executable, "-m", "reprostack.cli"]
    from reprostack.lock.uv import find_uv

    uv = find_uv()
    with tempfile.TemporaryDirectory(prefix="repro-lock-bench-") as tmp:
        base = Path(tmp)
        ml = project(base / "uv", "uv", ML_SET)
        ours, raw = timed_pair(
            [*repro, "lock", "--prod"],
            [uv, "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
             "--python-version", PY, "--python-platform", PLATFORM, "requirements.in",
             "-o", "raw.txt"],
            ml,
        )  # fmt: skip
        packages = sum(1 for line in (ml / "raw.txt").read_text().splitlines() if "==" in line)
        print(f"uv, {len(ML_SET.split())} direct / {packages} pinned: repro {ours:.2f} s, "
              f"raw {raw:.2f} s")  # fmt: skip
        report("lock (uv, ML set): repro lock --prod / uv pip compile", ours / raw, "<= 1.15",
               ours / raw <= 1.15, "x")  # fmt: skip

        small = project(base / "pip", "pip-tools", SMALL_SET)
        ours, raw = timed_pair(
            [*repro, "lock", "--prod"],
            [sys.executable, "-m", "piptools", "compile", "--no-config", "--quiet",
             "--generate-hashes", "--allow-unsafe", "requirements.in", "-o", "raw.txt"],
            small,
        )  # fmt: skip
        print(f"pip-tools, small set ({SMALL_SET.split()}): repro {ours:.2f} s, raw {raw:.2f} s")
        report("lock (pip-tools, small set): repro lock --prod / pip-compile", ours / raw,
               "<= 1.15", ours / raw <= 1.15, "x")  # fmt: skip

        wall([*repro, "lock"], cwd=ml)  # both locks exist and are fresh after this
        relock = statistics.median(wall([*repro, "lock"], cwd=ml) for _ in range(7))
        report("lock: re-lock with nothing changed (no resolution)", relock, "<= 0.3 s",
               relock <= 0.3, "s")  # fmt: skip
        check = statistics.median(wall([*repro, "lock", "--check"], cwd=ml) for _ in range(7))
        report("lock: repro lock --check, nothing stale", check, "<= 0.3 s", check <= 0.3, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
