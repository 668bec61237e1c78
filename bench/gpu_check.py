"""Check reprostack against a real NVIDIA machine: what it records, and that seeded runs repeat.

    PYTHONPATH=src python3 bench/gpu_check.py [--wheels DIR] [--seed N]

1. `repro fingerprint --json`'s nvidia section beside nvidia-smi's own answers (`-q -x` and
   `--query-gpu`): driver, CUDA driver version, GPU names, UUIDs, memory, compute capability,
   MIG mode. With torch importable, the cuda section (runtime, cuDNN, NCCL, read from files)
   beside what torch itself reports.
2. The doctor's check of torch's compiled architectures against each GPU.
3. A small matmul + conv training step on the GPU (CPU without one), run twice with
   `repro run --local --deterministic --seed N` and once with seed N+1: the first two must
   write byte-identical parameters, the third different ones.

Installs nothing and reaches no network. `--wheels DIR` puts the wheels in DIR (click, PyYAML,
Jinja2, MarkupSafe) on the path when this Python lacks them. Exit 0: everything agrees;
1: a disagreement (each marked MISMATCH or FAIL); 3: no NVIDIA driver to compare against.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAIN_STEP = """\
import hashlib, os, torch
device = "cuda" if torch.cuda.is_available() else "cpu"
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Flatten(), torch.nn.Linear(16 * 32 * 32, 10),
).to(device)
optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
images = torch.randn(64, 3, 32, 32, device=device)
labels = torch.randint(0, 10, (64,), device=device)
mix = torch.randn(1024, 1024, device=device)
for _ in range(3):
    optimiser.zero_grad()
    penalty = (mix @ mix).square().mean() * 1e-9
    loss = torch.nn.functional.cross_entropy(model(images), labels) + penalty
    loss.backward()
    optimiser.step()
def raw(tensor):
    data = tensor.detach().cpu().contiguous().view(torch.uint8)
    try:
        return data.numpy().tobytes()
    except Exception:  # torch without NumPy
        return bytes(data.tolist())
blob = b"".join(raw(p) for p in model.parameters())
out = os.path.join(os.environ["REPRO_OUTPUT_DIR"], "parameters.bin")
with open(out, "wb") as handle:
    handle.write(blob)
name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
print(f"device={device} ({name}) loss={loss.item():.10f} sha256={hashlib.sha256(blob).hexdigest()}")
"""
TORCH_FACTS = """\
import json, torch
nccl = None
try:
    nccl = ".".join(str(p) for p in torch.cuda.nccl.version()[:3])
except Exception:
    pass
cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn,
                  "nccl": nccl, "gpu_available": torch.cuda.is_available()}))
"""


class Report:
    """Rows of (what, repro, reference, verdict); counts what disagrees."""

    def __init__(self) -> None:
        self.failures = 0

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def row(self, what: str, ours: Any, theirs: Any, ok: bool | None = None) -> None:
        agree = (ours == theirs) if ok is None else ok
        self.failures += not agree
        verdict = "ok" if agree else "MISMATCH"
        print(f"  {what:<34} {_show(ours):<40} {_show(theirs):<40} {verdict}")

    def note(self, text: str, failed: bool = False) -> None:
        self.failures += failed
        print(f"  {'FAIL: ' if failed else ''}{text}")


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def _na(text: str | None) -> str | None:
    """nvidia-smi's placeholders (N/A, [N/A], Not Supported) as None, like the fingerprint."""
    if text is None:
        return None
    text = text.strip()
    return None if text.strip("[]").lower() in ("", "n/a", "not supported", "unknown") else text


def setup_path(wheels: Path | None) -> dict[str, str]:
    """Make `import reprostack` (and its three dependencies) work here and in subprocesses."""
    entries = [str(ROOT / "src")]
    if wheels is not None:
        entries += [str(w) for w in sorted(wheels.glob("*.whl"))]
    for entry in reversed(entries):
        sys.path.insert(0, entry)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*entries, *filter(None, [env.get("PYTHONPATH")])])
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def smi_facts(env: dict[str, str]) -> dict[str, Any]:
    """nvidia-smi's own answers, parsed here (not by reprostack), keyed by GPU UUID."""
    xml = run(["nvidia-smi", "-q", "-x"], env, timeout=60)
    if xml.returncode != 0:
        raise SystemExit(f"nvidia-smi -q -x failed: {xml.stdout.strip()} {xml.stderr.strip()}")
    root = ET.fromstring(xml.stdout[xml.stdout.find("<") :])
    gpus = {}
    for gpu in root.findall("gpu"):
        uuid = (gpu.findtext("uuid") or "").strip()
        memory = _na(gpu.findtext("fb_memory_usage/total"))
        gpus[uuid] = {
            "name": _na(gpu.findtext("product_name")),
            "memory_total_mib": int(memory.split()[0]) if memory else None,
            "mig_mode": _na(gpu.findtext("mig_mode/current_mig")),
        }
    fields = "uuid,name,memory.total,compute_cap,mig.mode.current,driver_version"
    csv = run(
        ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"], env, timeout=60
    )
    by_csv = {}
    for line in csv.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 6:
            by_csv[parts[0]] = dict(zip(fields.split(",")[1:], parts[1:], strict=True))
    return {
        "driver_version": _na(root.findtext("driver_version")),
        "cuda_driver_version": _na(root.findtext("cuda_version")),
        "gpus": gpus,
        "csv": by_csv,
        "csv_problem": None if csv.returncode == 0 else (csv.stdout + csv.stderr).strip(),
    }


def compare_nvidia(report: Report, ours: dict[str, Any] | None, smi: dict[str, Any]) -> None:
    report.section("NVIDIA driver and GPUs: repro fingerprint vs nvidia-smi")
    print(f"  {'field':<34} {'repro fingerprint':<40} {'nvidia-smi':<40} verdict")
    if ours is None:
        report.note("repro recorded nvidia: null although nvidia-smi answers", failed=True)
        return
    report.row("driver_version", ours.get("driver_version"), smi["driver_version"])
    report.row("cuda_driver_version", ours.get("cuda_driver_version"), smi["cuda_driver_version"])
    ours_gpus = {g.get("uuid"): g for g in ours.get("gpus", [])}
    report.row("GPU UUIDs", sorted(ours_gpus), sorted(smi["gpus"]))
    report.row("GPU count", len(ours_gpus), len(smi["gpus"]))
    if smi["csv_problem"]:
        report.note(f"nvidia-smi --query-gpu failed: {smi['csv_problem']}")
    for uuid, theirs in smi["gpus"].items():
        mine = ours_gpus.get(uuid, {})
        csv = smi["csv"].get(uuid, {})
        short = uuid[:12]
        report.row(f"{short} name", mine.get("name"), theirs["name"])
        report.row(f"{short} memory_total_mib", mine.get("memory_total_mib"),
                   theirs["memory_total_mib"])  # fmt: skip
        report.row(f"{short} mig_mode", mine.get("mig_mode"), theirs["mig_mode"])
        if csv:
            report.row(f"{short} compute_capability", mine.get("compute_capability"),
                       _na(csv["compute_cap"]))  # fmt: skip
            report.row(f"{short} name (--query-gpu)", mine.get("name"), csv["name"])
            csv_memory = _na(csv["memory.total"])
            report.row(f"{short} memory (--query-gpu)", mine.get("memory_total_mib"),
                       int(csv_memory) if csv_memory else None)  # fmt: skip
            report.row(f"{short} mig (--query-gpu)", mine.get("mig_mode"),
                       _na(csv["mig.mode.current"]))  # fmt: skip
            report.row(f"{short} driver (--query-gpu)", ours.get("driver_version"),
                       csv["driver_version"])  # fmt: skip


def compare_cuda(report: Report, cuda: dict[str, Any] | None, torch: dict[str, Any]) -> None:
    report.section("CUDA runtime, cuDNN, NCCL: repro (files, metadata) vs torch's own answer")
    print(f"  torch {torch['version']}, GPU available to torch: {torch['gpu_available']}")
    cuda = cuda or {}

    def leading(version: Any, parts: int) -> str | None:
        return ".".join(str(version).split(".")[:parts]) if version else None

    report.row("runtime (major.minor)", leading(cuda.get("runtime_version"), 2), torch["cuda"])
    theirs_cudnn = None
    if torch["cudnn"]:  # 90100 -> 9.1.0; 8907 (cuDNN 8) -> 8.9.7
        code = int(torch["cudnn"])
        theirs_cudnn = (f"{code // 10000}.{code // 100 % 100}.{code % 100}" if code >= 90000
                        else f"{code // 1000}.{code // 100 % 10}.{code % 100}")  # fmt: skip
    report.row("cudnn (major.minor.patch)", leading(cuda.get("cudnn_version"), 3), theirs_cudnn)
    report.row("nccl", leading(cuda.get("nccl_version"), 3), torch["nccl"])


def check_arch(report: Report, gpus: list[dict[str, Any]]) -> None:
    from reprostack.doctor.torch_arch import check_torch_build, query_torch_build

    report.section("torch's compiled GPU architectures vs each GPU (repro doctor's check)")
    build = query_torch_build()
    if isinstance(build, str):
        report.note(build, failed=True)
        return
    caps = ", ".join(f"{g.get('name')}: {g.get('compute_capability')}" for g in gpus)
    print(f"  torch {build.version} (CUDA {build.cuda}) arch list: {' '.join(build.arch_list)}")
    print(f"  GPUs: {caps}")
    for finding in check_torch_build(build, gpus):
        report.note(f"{finding.level}: {finding.message}", failed=finding.level == "error")
        if finding.fix and finding.level != "ok":
            print(f"      fix: {finding.fix}")


def check_determinism(report: Report, env: dict[str, str], seed: int) -> None:
    report.section(f"repro run --local --deterministic: a training step, seeds {seed}, {seed}, "
                   f"{seed + 1}")  # fmt: skip
    project = Path(tempfile.mkdtemp(prefix="repro-gpu-check-"))
    try:
        (project / "repro.yaml").write_text("name: gpu-check\n")
        (project / "train_step.py").write_text(TRAIN_STEP)
        if shutil.which("git"):
            git_env = {
                **env,
                "GIT_AUTHOR_NAME": "check",
                "GIT_AUTHOR_EMAIL": "check@localhost",
                "GIT_COMMITTER_NAME": "check",
                "GIT_COMMITTER_EMAIL": "check@localhost",
            }
            for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "gpu check"]):
                run(["git", *argv], git_env, cwd=project, timeout=60)
        blobs = []
        for run_seed in (seed, seed, seed + 1):
            done = run([sys.executable, "-m", "reprostack", "run", "--local", "--deterministic",
                        "--seed", str(run_seed), "train_step.py"], env, cwd=project)  # fmt: skip
            print(f"  seed {run_seed}: exit {done.returncode}: {done.stdout.strip()}")
            if done.returncode != 0:
                report.note(f"the run failed:\n{done.stderr.strip()}", failed=True)
                return
            runs = json.loads(run([sys.executable, "-m", "reprostack", "runs", "--json", "-n", "1"],
                                  env, cwd=project).stdout)  # fmt: skip
            folder = project / "runs" / runs[0]["id"]
            blobs.append((folder / "outputs" / "parameters.bin").read_bytes())
            block = runs[0].get("determinism") or {}
            print(f"    run.yaml determinism: applied {block.get('applied')}, "
                  f"not applied {block.get('not_applied')}")  # fmt: skip
            if "use_deterministic_algorithms" not in (block.get("applied") or {}).get("torch", []):
                report.note("run.yaml does not say torch was made deterministic", failed=True)
        report.row("same seed: parameters identical", len(blobs[0]), len(blobs[1]),
                   ok=blobs[0] == blobs[1])  # fmt: skip
        report.row("other seed: parameters differ", "differ", "differ" if blobs[0] != blobs[2]
                   else "identical")  # fmt: skip
    finally:
        shutil.rmtree(project, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", type=Path, help="a folder of click/PyYAML/Jinja2 wheels")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    env = setup_path(args.wheels)
    report = Report()
    print(f"python {sys.version.split()[0]} at {sys.executable}; reprostack from {ROOT / 'src'}")
    if shutil.which("nvidia-smi") is None:
        print("no nvidia-smi on PATH: this check needs a machine with an NVIDIA driver")
        return 3
    fingerprint = run(
        [sys.executable, "-m", "reprostack", "fingerprint", "--json"], env, timeout=300
    )
    if fingerprint.returncode != 0:
        print(f"FAIL: repro fingerprint --json exited {fingerprint.returncode}:\n"
              f"{fingerprint.stderr}")  # fmt: skip
        return 1
    facts = json.loads(fingerprint.stdout)
    print("\nrepro fingerprint --json, nvidia and cuda sections:")
    print(json.dumps({"nvidia": facts.get("nvidia"), "cuda": facts.get("cuda")}, indent=2))
    compare_nvidia(report, facts.get("nvidia"), smi_facts(env))
    torch_facts = run([sys.executable, "-c", TORCH_FACTS], env, timeout=300)
    if torch_facts.returncode == 0:
        compare_cuda(report, facts.get("cuda"), json.loads(torch_facts.stdout.splitlines()[-1]))
        check_arch(report, (facts.get("nvidia") or {}).get("gpus", []))
        check_determinism(report, env, args.seed)
    else:
        last = (torch_facts.stderr.strip().splitlines() or ["?"])[-1]
        print(f"\ntorch is not importable here ({last}): the torch checks were not run")
    print(f"\n{'ALL AGREE' if report.failures == 0 else f'{report.failures} DISAGREEMENT(S)'}")
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
