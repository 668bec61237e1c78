"""Benchmark `repro build --prod` of a real torch project against naive Dockerfiles.

    DOCKER_HOST=... .venv/bin/python bench/torch_bench.py [--requirement torch] [--verify] [--keep]

The project locks ``--requirement`` (default ``torch``) from the real index with uv, and is
built cold, side by side, by `repro build --prod` and by the Dockerfile people write first:

    FROM base; venv; COPY the lock; pip install -r; COPY . .        (naive)
    FROM base; COPY . .; venv; pip install -r                       (naive, code first)

on the same local base with the same (legacy) builder, each trusting the host's CA bundle.
Goals: cold build <= 1.0x naive, prod size <= 0.95x naive, the build cache after one build
<= 1.2x the image, a code-only rebuild >= 5x faster than the code-first variant's.
Then a lock change: ``--light`` (default ``six``) is added to the inputs and locked again,
and both rebuild: repro reinstalls only its light layer (torch, triton and the nvidia wheels
stay in the heavy layer's cache), the naive file everything. Printed: the rebuild times and
how much the build cache grew with each rebuild (the bytes of the layers it added).
Goals: lock-change rebuild >= 5x faster than naive, cache growth <= 0.1x naive's.
``--dry-run`` writes the project and prints what would be built and measured, without an
engine, an index or a lock (a check of the script itself).
Images are tagged under a name of their own and removed at the end (``--keep`` keeps them).
``--verify`` then adds ``system_packages`` to the project and runs ``repro build --prod
--verify`` on it (three more cold builds): the reproducibility check on a real torch lock;
``--verify-only`` runs that check alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # the benchmarks' shared printer

ROOT = Path(__file__).resolve().parents[1]
BASE = os.environ.get("REPRO_BASE_IMAGE", "local/debian-python:bookworm")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CA_SETUP = """COPY bench-ca.crt /usr/local/share/bench-ca.crt
ENV PIP_CERT=/usr/local/share/bench-ca.crt
"""
NAIVE = """FROM {base}
{ca}RUN python3 -m venv /venv
COPY lockfiles/prod.txt /tmp/prod.txt
RUN /venv/bin/pip install -r /tmp/prod.txt
COPY . /app
"""
CODE_FIRST = """FROM {base}
{ca}COPY . /app
RUN python3 -m venv /venv && /venv/bin/pip install -r /app/lockfiles/prod.txt
"""
TRAIN = "import sys\n\nprint('training with', sys.version)\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=b@example.com", "-c", "user.name=bench", *args],
                   cwd=root, check=True, capture_output=True)  # fmt: skip


def _project(tmp: Path, name: str, requirement: str, *, lock: bool = True) -> Path:
    root = tmp / name
    root.mkdir()
    (root / "repro.yaml").write_text(
        f'name: {name}\npython: "3.11"\nbase_image: {BASE}\n'
        "build: {host_ca_bundle: true}\nlock: {tool: uv}\n"
    )
    (root / "requirements.in").write_text(requirement + "\n")
    (root / "train.py").write_text(TRAIN)
    ca = CA_SETUP if HOST_CA.is_file() else ""
    if ca:
        shutil.copyfile(HOST_CA, root / "bench-ca.crt")
    (root / "Dockerfile.naive").write_text(NAIVE.format(base=BASE, ca=ca))
    (root / "Dockerfile.codefirst").write_text(CODE_FIRST.format(base=BASE, ca=ca))
    (root / ".gitignore").write_text("bench-ca.crt\n")
    if not lock:
        return root
    subprocess.run([sys.executable, "-m", "reprostack", "lock", "--prod"], cwd=root, check=True)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "bench project")
    return root


def _naive(client: Any, root: Path, dockerfile: str, tag: str, nocache: bool) -> tuple[float, str]:
    started = time.monotonic()
    image, _ = client.images.build(path=str(root), dockerfile=dockerfile, tag=tag,
                                   nocache=nocache, rm=True, pull=False)  # fmt: skip
    return time.monotonic() - started, str(image.id)


def _image_ids(client: Any) -> set[str]:
    # One listing call: `images.list()` inspects each image and fails when another build on a
    # shared engine removes one in between.
    return set(client.api.images(all=True, quiet=True))


def _created(client: Any, build: Callable[[], Any]) -> tuple[Any, int, set[str]]:
    """Run ``build``; return its result, the bytes of the layers it added, the new image ids.

    Every image the build left (the final one, its steps', a builder stage's) is the build
    cache; a layer shared by several of them counts once. The engine may be shared: an image
    another build made meanwhile would be counted too, so run this on a quiet engine.
    """
    before = _image_ids(client)
    result = build()
    new = _image_ids(client) - before
    layers: dict[str, int] = {}
    for image_id in sorted(new):
        try:
            history = client.api.history(image_id)
        except Exception as exc:  # another build on a shared engine removed it meanwhile
            if "No such image" not in str(exc):
                raise
            continue
        for entry in history:
            if entry.get("Id") in new:
                layers[entry["Id"]] = int(entry.get("Size") or 0)
    return result, sum(layers.values()), new


def _size(client: Any, image_id: str) -> int:
    return int(client.images.get(image_id).attrs["Size"])


def _remove(client: Any, ids: set[str]) -> None:
    """Remove the images this run made, children before parents."""
    created = {}
    for image_id in ids:
        try:
            created[image_id] = client.images.get(image_id).attrs.get("Created", "")
        except Exception:  # already gone
            continue
    for image_id in sorted(created, key=created.__getitem__, reverse=True):
        try:
            client.images.remove(image_id, force=True, noprune=False)
        except Exception as exc:  # gone with a child, or used by another build meanwhile
            if "No such image" not in str(exc):
                print(f"left {image_id[:19]}: {exc}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirement", default="torch", help="what the project depends on")
    parser.add_argument("--keep", action="store_true", help="keep the images afterwards")
    parser.add_argument("--verify", action="store_true",
                        help="then `repro build --prod --verify` with system_packages")  # fmt: skip
    parser.add_argument("--verify-only", action="store_true",
                        help="only that verify, none of the timed builds")  # fmt: skip
    parser.add_argument("--lock-change-only", action="store_true",
                        help="only the cold builds and the lock change")  # fmt: skip
    parser.add_argument("--light", default="six",
                        help="the small requirement the lock change adds")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="write the project, print the plan (no engine)")  # fmt: skip
    args = parser.parse_args()
    if args.dry_run:
        return _dry_run(args)

    sys.path.insert(0, str(ROOT / "src"))
    from reprostack.bases.resolve import resolve_bases
    from reprostack.config import load_config
    from reprostack.engine import connect
    from reprostack.image.build import BuildRequest, build_image

    engine = connect()
    import docker  # the naive side builds as a user would without reprostack: the SDK

    client = docker.DockerClient(**docker.utils.kwargs_from_env())
    token = f"{time.time_ns() % 10**9:09d}"
    name = f"torchbench-{token}"
    naive_tag = f"localhost/repro-{name}-naive"
    made: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        root = _project(Path(tmp), name, args.requirement)
        config = load_config(root, required=True)
        bases = resolve_bases(config, engine=engine)  # once: every build below uses it
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "pins")
        if args.verify_only:
            try:
                verified, _, made = _created(client, lambda: _verify(root))
            finally:
                if not args.keep:
                    _remove(client, made)
            report("repro build --prod --verify (system_packages, this lock)",
                   verified, "exit 0", verified == 0)  # fmt: skip
            return 0
        try:
            cold = BuildRequest(config, "prod", bases, builder="legacy", no_cache=True)
            ours, ours_cache, new = _created(client, lambda: build_image(cold, engine=engine))
            made |= new
            (naive_cold, naive_id), naive_cache, new = _created(client, lambda: _naive(
                client, root, "Dockerfile.naive", f"{naive_tag}:1", True))  # fmt: skip
            made |= new
            warm = BuildRequest(config, "prod", bases, builder="legacy")
            if args.lock_change_only:
                _lock_change(args, client, root, warm, engine, naive_tag, made)
                return 0
            _, _, new = _created(client, lambda: _naive(
                client, root, "Dockerfile.codefirst", f"{naive_tag}:first", True))  # fmt: skip
            made |= new

            (root / "train.py").write_text(TRAIN + f"# change {token}\n")
            _git(root, "commit", "-qam", "code change")
            ours_change, _, new = _created(client, lambda: build_image(warm, engine=engine))
            made |= new
            (first_change, _), _, new = _created(client, lambda: _naive(
                client, root, "Dockerfile.codefirst", f"{naive_tag}:first", False))  # fmt: skip
            made |= new

            ours_size, naive_size = _size(client, ours.id), _size(client, naive_id)
            base_size = _size(client, BASE)
            _table(args.requirement, base_size, ours, ours_size, ours_cache, ours_change,
                   naive_cold, naive_size, naive_cache, first_change)  # fmt: skip

            _lock_change(args, client, root, warm, engine, naive_tag, made)
            if args.verify:
                verified, _, new = _created(client, lambda: _verify(root))
                made |= new
                report("repro build --prod --verify (system_packages, this lock)",
                       verified, "exit 0", verified == 0)  # fmt: skip
        finally:
            if not args.keep:
                _remove(client, made)
    return 0


def _table(requirement: str, base_size: int, ours: Any, ours_size: int, ours_cache: int,
           ours_change: Any, naive_cold: float, naive_size: int, naive_cache: int,
           first_change: float) -> None:  # fmt: skip
    mib = 1 << 20
    print(f"project: {requirement!r} from the index, base {BASE} "
          f"({base_size / mib:.0f} MiB), legacy builder on both sides")  # fmt: skip
    print(f"{'':40}{'repro':>10}{'naive':>10}{'ratio':>9}")
    rows = [
        ("cold build (s)", ours.seconds, naive_cold),
        ("prod image size (MiB)", ours_size / mib, naive_size / mib),
        ("build cache after one build (MiB)", (base_size + ours_cache) / mib,
         (base_size + naive_cache) / mib),
        ("code-only rebuild (s; naive: code first)", ours_change.seconds, first_change),
    ]  # fmt: skip
    for label, mine, theirs in rows:
        print(f"{label:40}{mine:10.2f}{theirs:10.2f}{mine / theirs:9.2f}x")
    cold = ours.seconds / naive_cold
    size = ours_size / naive_size
    cache = (base_size + ours_cache) / ours_size
    speedup = first_change / ours_change.seconds
    report("cold build / naive (same base, same builder)", cold, "<= 1.0x", cold <= 1.0, "x")
    report("prod image size / naive", size, "<= 0.95x", size <= 0.95, "x")
    report("build cache after one build / prod image", cache, "<= 1.2x", cache <= 1.2, "x")
    report("code-only rebuild speed-up vs code-first naive", speedup, ">= 5x", speedup >= 5, "x")


def _lock_change(args: argparse.Namespace, client: Any, root: Path, warm: Any, engine: Any,
                 naive_tag: str, made: set[str]) -> None:  # fmt: skip
    """Change the lock, rebuild both sides warm, print the table (``made`` gets the images)."""
    from reprostack.image.build import build_image

    _change_lock(root, args.requirement, args.light)
    ours, ours_growth, new = _created(client, lambda: build_image(warm, engine=engine))
    made |= new
    (naive_s, _), naive_growth, new = _created(client, lambda: _naive(
        client, root, "Dockerfile.naive", f"{naive_tag}:2", False))  # fmt: skip
    made |= new
    _lock_table(args.light, ours, ours_growth, naive_s, naive_growth)


def _change_lock(root: Path, requirement: str, light: str) -> None:
    """Add ``light`` to the inputs and lock again: one small pin more, torch's unchanged."""
    (root / "requirements.in").write_text(f"{requirement}\n{light}\n")
    subprocess.run([sys.executable, "-m", "reprostack", "lock", "--prod"], cwd=root, check=True)
    _git(root, "commit", "-qam", f"add {light}")


def _lock_table(light: str, ours: Any, ours_growth: int, naive_s: float,
                naive_growth: int) -> None:  # fmt: skip
    mib = 1 << 20
    print(f"lock change: {light!r} added (heavy layer: {HEAVY_NOTE})")
    print(f"{'':40}{'repro':>10}{'naive':>10}{'ratio':>9}")
    print(f"{'lock-change rebuild (s)':40}{ours.seconds:10.2f}{naive_s:10.2f}"
          f"{ours.seconds / naive_s:9.2f}x")  # fmt: skip
    print(f"{'build cache growth (MiB)':40}{ours_growth / mib:10.2f}{naive_growth / mib:10.2f}"
          f"{ours_growth / max(naive_growth, 1):9.2f}x")  # fmt: skip
    print(f"steps run: {len(ours.rebuilt)} of {ours.steps - ours.from_steps}; heavy layer "
          f"cached: {not any('heavy' in step for step in ours.rebuilt)}")  # fmt: skip
    speedup = naive_s / ours.seconds
    growth = ours_growth / max(naive_growth, 1)
    report("lock-change rebuild speed-up vs naive", speedup, ">= 5x", speedup >= 5, "x")
    report("build cache growth of that rebuild / naive's", growth, "<= 0.1x", growth <= 0.1, "x")


HEAVY_NOTE = "torch, triton, nvidia-* and the rest of reprostack.image.weight's families"


def _dry_run(args: argparse.Namespace) -> int:
    """Write the project without locking it; print the Dockerfiles and the plan."""
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        root = _project(Path(tmp), "torchbench-dry", args.requirement, lock=False)
        for name in ("Dockerfile.naive", "Dockerfile.codefirst"):
            print(f"--- {name}\n{(root / name).read_text()}", end="")
        print(f"--- requirements.in: {(root / 'requirements.in').read_text().strip()!r}")
    steps = ["lock with uv", "cold: repro build --prod (legacy, no cache)",
             "cold: naive", "cold: naive code-first", "code-only change: repro, code-first",
             f"lock change (+{args.light}): repro, naive"]  # fmt: skip
    if args.verify or args.verify_only:
        steps.append("repro build --prod --verify with system_packages")
    for number, step in enumerate(steps, 1):
        print(f"{number}. {step}")
    print(f"heavy layer: {HEAVY_NOTE}")
    return 0


def _verify(root: Path) -> int:
    """`repro build --prod --verify` on the project with system_packages added: its exit code.

    Verify's two builds are untagged and removed by repro itself, so nothing is left behind.
    """
    config = root / "repro.yaml"
    config.write_text(config.read_text() + "system_packages: [procps]\n")
    _git(root, "commit", "-qam", "system packages")
    command = [sys.executable, "-m", "reprostack", "build", "--prod", "--verify",
               "--builder", "legacy"]  # fmt: skip
    started = time.monotonic()
    code = subprocess.run(command, cwd=root).returncode
    print(f"verify took {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
