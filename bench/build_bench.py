"""Benchmark `repro build --prod` against a naive Dockerfile for the same project.

    DOCKER_HOST=... .venv/bin/python bench/build_bench.py [--packages 12] [--toy-data-mb 20]

The project is tests/image_cases/package plus synthetic dependencies (wheels with many
modules, so that installing them costs what real dependencies cost relative to the code) and
a committed toy data subset. Nothing is fetched: wheels come from a project wheelhouse.
Both images are built with the legacy builder on the same local base, so the comparison is
about the Dockerfile, not the builder. Prints sizes, timings and the ratios against the goals
(prod size <= 0.8x naive, a code-only rebuild >= 5x faster, a no-change rebuild <= 2 s).

Then, side by side: a change to one small pin (a light package, the synthetic ``heavyN``
packages marked heavy by ``build.heavy``) rebuilt by repro and by the naive Dockerfile; and,
with a registry (``--registry``, default ``$REPRO_REGISTRY``), a build on an engine that has
no cache of the project, seeded from ``build.cache.from`` against one without it. The legacy
builder's cache is its images, so removing the project's images (all under a name of this
run's own) empties its cache: nobody else's image is touched.
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


def _project(tmp: Path, packages: int, toy_mb: int, name: str) -> tuple[Path, list[Pin]]:
    root = tmp / "bench"
    shutil.copytree(CASE, root)
    config = root / "repro.yaml"
    text = config.read_text().replace("name: case-package", f"name: {name}")
    # The synthetic packages are the project's heavy ones (torch's place in a real project).
    config.write_text(text + 'build:\n  heavy: ["heavy*"]\n')
    wheels = root / "wheels"
    _make_cases().make_wheel(wheels, "lightpin", "1.0.0", ())
    pins = [("alpha", "1.0.0"), ("beta", "2.1.0"), ("lightpin", "1.0.0")]
    for index in range(packages):
        pins.append(_heavy_wheel(wheels, index, modules=150))
    _write_lock(root, pins)
    (root / "lockfiles" / "dev.txt").unlink()
    # The naive Dockerfile lives in the project, as hand-written ones do (a file outside the
    # context would be sent under a random name and defeat `COPY . .`'s cache).
    (root / "Dockerfile.naive").write_text(NAIVE.format(base=BASE))
    # A toy subset of the data, committed as the research layout suggests.
    (root / "data" / "toy.bin").write_bytes(random.Random(0).randbytes(toy_mb << 20))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "bench project")
    return root, pins


Pin = tuple[str, str]


def _write_lock(root: Path, pins: list[Pin]) -> None:
    """Write prod.txt for ``pins`` (wheels in the project's wheelhouse), header rehashed."""
    wheels = root / "wheels"
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
    parser.add_argument("--registry", default=os.environ.get("REPRO_REGISTRY"),
                        help="host:port of a registry for the build.cache figure")  # fmt: skip
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
    name = f"buildbench-{token[-9:]}"
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        root, pins = _project(Path(tmp), args.packages, args.toy_data_mb, name)
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

        # One small pin changes (lightpin 1.0.0 -> 1.1.0): repro reinstalls the light layer.
        _make_cases().make_wheel(root / "wheels", "lightpin", "1.1.0", ())
        _write_lock(root, [(n, "1.1.0" if n == "lightpin" else v) for n, v in pins])
        _git(root, "commit", "-qam", "bump lightpin")
        ours_pin = build_image(BuildRequest(config, "prod", bases, builder="legacy"),
                               engine=engine)  # fmt: skip
        naive_pin, _ = _naive_build(client, root, "localhost/repro-bench-naive:3", False)
        fresh = _fresh_engine_figures(client, engine, config, bases, name, token, args.registry)
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
    _print_side_by_side(ours_pin, naive_pin, fresh)
    return 0


def _print_side_by_side(ours_pin: Any, naive_pin: float, fresh: dict[str, Any] | None) -> None:
    """The two dependency-cache figures, side by side."""
    print()
    print(f"{'':44}{'repro':>12}{'reference':>12}{'ratio':>9}")
    pin_steps = ours_pin.steps - ours_pin.from_steps
    print(f"{'small-pin change rebuild (s; ref: naive)':44}{ours_pin.seconds:12.2f}"
          f"{naive_pin:12.2f}{ours_pin.seconds / naive_pin:9.2f}x")  # fmt: skip
    print(f"{'  steps run (repro)':44}{len(ours_pin.rebuilt):>12}{'':12}"
          f"  of {pin_steps}; heavy layer cached: "
          f"{not any('heavy' in s for s in ours_pin.rebuilt)}")  # fmt: skip
    speedup = naive_pin / ours_pin.seconds
    report("small-pin change rebuild speed-up vs naive", speedup, ">= 2x", speedup >= 2, "x")
    if fresh is None:
        print("fresh-engine build.cache figure: skipped (no --registry / $REPRO_REGISTRY)")
        return
    label = "fresh-cache build (s; ref: no cache.from)"
    print(f"{label:44}{fresh['from_s']:12.2f}{fresh['none_s']:12.2f}"
          f"{fresh['from_s'] / fresh['none_s']:9.2f}x")  # fmt: skip
    print(f"{'  steps run':44}{fresh['from_run']:>12}{fresh['none_run']:>12}"
          f"  of {fresh['steps']}; pull of the cache image included")  # fmt: skip
    ratio = fresh["none_s"] / fresh["from_s"]
    report("fresh-cache build speed-up with build.cache.from", ratio, ">= 2x", ratio >= 2, "x")


def _fresh_engine_figures(client: Any, engine: Any, config: Any, bases: Any, name: str,
                          token: str, registry: str | None) -> dict[str, Any] | None:  # fmt: skip
    """Build with an empty cache for this project, with and without build.cache.from.

    The image is first pushed with its cache (``build.cache.to``); then every image of this
    run is removed (the legacy builder's cache is its images, all named ``name`` here) before
    each of the two builds. The project is a copy of the bench's without its pyproject and
    with every pin a wheel (``# wheels: all``): no builder or project stage, whose untagged
    images would keep a cache that removing the named images leaves behind.
    """
    if not registry:
        return None
    import dataclasses

    from reprostack.bases.resolve import resolve_bases
    from reprostack.config import load_config
    from reprostack.config.sections.build import CacheConfig
    from reprostack.image.build import BuildRequest, build_image

    root = config.root.parent / "fresh"
    shutil.copytree(config.root, root)
    (root / "pyproject.toml").unlink()
    lock = root / "lockfiles" / "prod.txt"
    lock.write_text(lock.read_text().replace("# body-sha256:", "# wheels: all\n# body-sha256:"))
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "scripts only, wheels only")
    config = load_config(root, required=True)
    bases = resolve_bases(config, engine=engine)

    repo = f"{registry}/bench/repro-cache-{token[-9:]}"
    cached = dataclasses.replace(config, build=dataclasses.replace(
        config.build, cache=CacheConfig(from_=(repo,), to=repo)))  # fmt: skip
    bare = dataclasses.replace(config, build=dataclasses.replace(config.build, cache=CacheConfig()))
    pushed = build_image(BuildRequest(cached, "prod", bases, builder="legacy", reuse=False),
                         engine=engine).cache_pushed  # fmt: skip

    def forget() -> None:
        for image in client.images.list(name=f"localhost/repro-{name}"):
            for tag in image.tags:
                client.images.remove(tag, force=True)
        for ref in pushed:
            if engine.image(ref) is not None:
                client.images.remove(ref, force=True)

    forget()
    started = time.monotonic()
    none = build_image(BuildRequest(bare, "prod", bases, builder="legacy"), engine=engine)
    none_s = time.monotonic() - started
    forget()
    started = time.monotonic()
    seeded = build_image(BuildRequest(cached, "prod", bases, builder="legacy"), engine=engine)
    from_s = time.monotonic() - started
    forget()
    return {"none_s": none_s, "from_s": from_s, "none_run": len(none.rebuilt),
            "from_run": len(seeded.rebuilt), "steps": none.steps - none.from_steps}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
