"""Benchmark `repro build --prod` against a naive Dockerfile for the same project.

    DOCKER_HOST=... .venv/bin/python bench/build_bench.py [--packages 12] [--toy-data-mb 20]

The project is tests/image_cases/package plus synthetic dependencies (wheels with many
modules, so that installing them costs what real dependencies cost relative to the code) and
a committed toy data subset. Nothing is fetched: wheels come from a project wheelhouse.
Both images are built with the legacy builder on the same local base, so the comparison is
about the Dockerfile, not the builder. Prints sizes, timings and the ratios against the goals
(prod size <= 0.8x naive, a code-only rebuild >= 5x faster, a no-change rebuild <= 2 s).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # the benchmarks' shared printer

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "image_cases" / "package"
BASE = os.environ.get("REPRO_BASE_IMAGE", "local/debian-python:bookworm")
NAIVE = """FROM {base}
WORKDIR /app
COPY . .
RUN python3 -m venv /venv && /venv/bin/pip install -r lockfiles/prod.txt
"""


def _make_cases() -> Any:
    spec = importlib.util.spec_from_file_location("make_cases", CASE.parent / "make_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=b@example.com", "-c", "user.name=bench", *args],
                   cwd=root, check=True, capture_output=True)  # fmt: skip


def _heavy_wheel(folder: Path, index: int, modules: int) -> tuple[str, str]:
    """Write a wheel of ``modules`` modules of pseudo-random text; return (name, version)."""
    make = _make_cases()
    name, version = f"heavy{index}", "1.0.0"
    rng = random.Random(index)
    path = make.make_wheel(folder, name, version, ())
    import zipfile

    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        for number in range(modules):
            text = "".join(f"X{n} = {rng.getrandbits(64)!r}\n" for n in range(300))
            info = zipfile.ZipInfo(f"{name}/mod{number}.py", (2020, 1, 1, 0, 0, 0))
            archive.writestr(info, text)
    # RECORD no longer lists every file; pip accepts that for files it did not verify.
    return name, version


def _project(tmp: Path, packages: int, toy_mb: int) -> Path:
    root = tmp / "bench"
    shutil.copytree(CASE, root)
    wheels = root / "wheels"
    pins = [("alpha", "1.0.0"), ("beta", "2.1.0")]
    for index in range(packages):
        pins.append(_heavy_wheel(wheels, index, modules=150))
    body = "--no-index\n--find-links ../wheels\n\n"
    for name, version in sorted(pins):
        data = (wheels / f"{name}-{version}-py3-none-any.whl").read_bytes()
        body += f"{name}=={version} \\\n    --hash=sha256:{hashlib.sha256(data).hexdigest()}\n"
    lock = root / "lockfiles" / "prod.txt"
    head = lock.read_text().partition("\n\n")[0].splitlines()
    head = [
        f"# body-sha256: {hashlib.sha256(body.encode()).hexdigest()}"
        if line.startswith("# body-sha256:")
        else line
        for line in head
    ]
    lock.write_text("\n".join(head) + "\n\n" + body)
    (root / "lockfiles" / "dev.txt").unlink()
    # The naive Dockerfile lives in the project, as hand-written ones do (a file outside the
    # context would be sent under a random name and defeat `COPY . .`'s cache).
    (root / "Dockerfile.naive").write_text(NAIVE.format(base=BASE))
    # A toy subset of the data, committed as the research layout suggests.
    (root / "data" / "toy.bin").write_bytes(random.Random(0).randbytes(toy_mb << 20))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "bench project")
    return root


def _naive_build(client: Any, root: Path, tag: str, nocache: bool) -> tuple[float, str]:
    started = time.monotonic()
    image, _ = client.images.build(
        path=str(root), dockerfile="Dockerfile.naive", tag=tag,
        nocache=nocache, rm=True, pull=False,
    )  # fmt: skip
    return time.monotonic() - started, str(image.id)


def _size(client: Any, image_id: str) -> int:
    return int(client.images.get(image_id).attrs["Size"])


def _change_code(root: Path, token: str) -> None:
    init = root / "caseapp" / "__init__.py"
    init.write_text(init.read_text() + f"# {token}\n")
    _git(root, "commit", "-qam", f"change {token}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=12)
    parser.add_argument("--toy-data-mb", type=int, default=20)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from reprostack.bases.resolve import resolve_bases
    from reprostack.config import load_config
    from reprostack.engine import connect
    from reprostack.image.build import BuildRequest, build_image

    engine = connect()
    import docker  # the naive side builds as a user would without reprostack: the SDK

    client = docker.DockerClient(**docker.utils.kwargs_from_env())
    token = str(time.time_ns())
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        root = _project(Path(tmp), args.packages, args.toy_data_mb)
        config = load_config(root, required=True)
        bases = resolve_bases(config, engine=engine)  # once: every build below uses it
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "pins")

        # Cold builds, no layer cache, for both.
        ours = build_image(
            BuildRequest(config, "prod", bases, builder="legacy", no_cache=True), engine=engine
        )
        naive_cold, naive_id = _naive_build(client, root, "localhost/repro-bench-naive:1", True)

        _change_code(root, token + "a")
        ours_change = build_image(
            BuildRequest(config, "prod", bases, builder="legacy"), engine=engine
        )
        naive_change, _ = _naive_build(client, root, "localhost/repro-bench-naive:2", False)

        started = time.monotonic()
        ours_same = build_image(
            BuildRequest(config, "prod", bases, builder="legacy"), engine=engine
        )
        ours_same_s = time.monotonic() - started
        started = time.monotonic()
        cached = build_image(
            BuildRequest(config, "prod", bases, builder="legacy", reuse=False), engine=engine
        )
        ours_cached_s = time.monotonic() - started
        naive_same, _ = _naive_build(client, root, "localhost/repro-bench-naive:2", False)

        ours_size, naive_size = _size(client, ours.id), _size(client, naive_id)
        base_size = _size(client, BASE)
    mib = 1 << 20
    print(f"project: {args.packages} synthetic packages, {args.toy_data_mb} MiB toy data, "
          f"base {BASE} ({base_size / mib:.0f} MiB)")  # fmt: skip
    print(f"{'':34}{'repro':>10}{'naive':>10}{'ratio':>9}")
    rows = [
        ("prod image size (MiB)", ours_size / mib, naive_size / mib),
        ("  above the base (MiB)", (ours_size - base_size) / mib,
         (naive_size - base_size) / mib),
        ("cold build (s)", ours.seconds, naive_cold),
        ("rebuild after 1-line change (s)", ours_change.seconds, naive_change),
        ("no-change rebuild (s)", ours_same_s, naive_same),
        ("  fully cached builder run (s)", ours_cached_s, naive_same),
    ]  # fmt: skip
    for label, mine, theirs in rows:
        print(f"{label:34}{mine:10.2f}{theirs:10.2f}{mine / theirs:9.2f}x")
    size_ratio = ours_size / naive_size
    speedup = naive_change / ours_change.seconds
    report("prod image size / naive (same base)", size_ratio, "<= 0.8x", size_ratio <= 0.8, "x")
    report("code-change rebuild speed-up vs naive", speedup, ">= 5x", speedup >= 5, "x")
    report("no-change rebuild (content tag reused)", ours_same_s, "<= 2 s", ours_same_s <= 2, "s")
    print(f"fully cached builder run: {cached.fully_cached}; reused: {ours_same.reused}")
    print(f"rebuilt steps after the change: {len(ours_change.rebuilt)} of "
          f"{ours_change.steps - ours_change.from_steps}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
