"""Registry goals, measured on the bundled example (examples/quickstart) and a loopback registry.

1. A code-only change: the second `repro push` stores only the changed layers: bytes the
   registry received for it (new blobs, config and manifest) <= 1.2x the code layers' size.
2. `repro pull RUN` vs `docker pull <repo>@<digest>` of the same image from the same registry:
   <= 1.1x (median of alternating runs, the image removed before each).
3. `repro replay RUN` on an engine without the image, registry up (a pull by digest) vs the
   rebuild path (`repro replay --rebuild RUN` with no layer cache for the project's stages):
   >= 5x faster.

Needs DOCKER_HOST, the local base image, and REPRO_REGISTRY (`eval "$(ci/registry.sh env)"`).
The project gets a unique lock comment so that no build cache of an earlier run is reused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from _common import ROOT, report

EXAMPLE = ROOT / "examples" / "quickstart"
GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip
# The legacy builder keeps its layer cache as the parents of the image: removing every image
# of the project leaves no cache behind, as on a machine that never built it (BuildKit's cache
# lives apart and is shared with everything else on the engine).
ENV = {**os.environ, **GIT, "REPRO_BUILDER": "legacy"}
# ML images are gigabytes; a payload of this size (REPRO_BENCH_PAYLOAD_MB) makes the pull one
# where the transfer, not Python's start, is what is compared.
PAYLOAD_MB = int(os.environ.get("REPRO_BENCH_PAYLOAD_MB", "512"))


def sh(cwd: Path, *argv: str) -> str:
    done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def repro(cwd: Path, *args: str) -> str:
    return sh(cwd, sys.executable, "-m", "reprostack", *args)


def timed(cwd: Path, *argv: str) -> float:
    start = time.perf_counter()
    sh(cwd, *argv)
    return time.perf_counter() - start


def registry_json(registry: str, path: str, accept: str) -> tuple[dict[str, Any], int]:
    request = urllib.request.Request(f"http://{registry}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body), len(body)


MANIFEST = ("application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json")  # fmt: skip


def stored_for(registry: str, name: str, tag: str) -> tuple[list[tuple[str, int]], int, int, Any]:
    """(layers as (digest, size), config size, manifest size, config JSON) of a pushed tag."""
    manifest, manifest_size = registry_json(registry, f"{name}/manifests/{tag}", MANIFEST)
    layers = [(layer["digest"], int(layer["size"])) for layer in manifest["layers"]]
    config, _ = registry_json(registry, f"{name}/blobs/{manifest['config']['digest']}", "*/*")
    return layers, int(manifest["config"]["size"]), manifest_size, config


def code_layer_bytes(layers: list[tuple[str, int]], config: dict[str, Any]) -> int:
    """Compressed size of the code layers: those the prod stage adds after `WORKDIR /app`.

    Everything before it is the deps stage (base, system packages, the locked venv), which a
    code-only change must not touch. History entries map to layers in order, empty ones aside.
    """
    total, in_code, index = 0, False, 0
    for entry in config.get("history", []):
        in_code = in_code or "WORKDIR /app" in str(entry.get("created_by", ""))
        if entry.get("empty_layer"):
            continue
        if in_code and index < len(layers):
            total += layers[index][1]
        index += 1
    return total


def make_project(registry: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="repro-bench-registry-"))
    project = root / "quickstart"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("runs", "dockerfiles"))
    name = f"bench-reg-{uuid.uuid4().hex[:8]}"
    config = (project / "repro.yaml").read_text()
    config = config.replace("name: quickstart", f"name: {name}")
    config += f"base_image: local/debian-python:bookworm\nregistry: {registry}/bench\n"
    (project / "repro.yaml").write_text(config)
    # A unique lock (the body-sha256 kept true): no layer cache of an earlier run applies.
    lock = project / "lockfiles" / "prod.txt"
    head, _, body = lock.read_text().partition("\n\n")
    body = f"# bench {uuid.uuid4().hex}\n" + body
    import hashlib

    head = "\n".join(
        f"# body-sha256: {hashlib.sha256(body.encode()).hexdigest()}"
        if line.startswith("# body-sha256:") else line for line in head.splitlines()
    )  # fmt: skip
    lock.write_text(head + "\n\n" + body)
    (project / ".gitignore").write_text("runs/\n")
    sh(project, "git", "init", "-q", "-b", "main")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "quickstart")
    repro(project, "build", "--prod")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "Dockerfiles and base pin")
    return project


def remove(image: str) -> None:
    subprocess.run(["docker", "rmi", "-f", image], env=ENV, capture_output=True, check=False)


def main() -> None:
    registry = os.environ.get("REPRO_REGISTRY", "127.0.0.1:5555")
    project = make_project(registry)
    name = yaml_name(project)
    repo_path = f"bench/repro-{name}"

    # 1. A code-only change: what the registry stores for the second push.
    first = repro(project, "push", "--prod").strip()
    tag1 = first_tag(project, "prod")
    (project / "features.py").write_text(code_module(300_000))
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "a code-only change")
    second = repro(project, "push", "--prod").strip()
    tag2 = first_tag(project, "prod")
    layers1, _, _, _ = stored_for(registry, repo_path, tag1)
    layers2, config_size, manifest_size, config = stored_for(registry, repo_path, tag2)
    old = {digest for digest, _ in layers1}
    new_bytes = sum(size for digest, size in layers2 if digest not in old)
    uploaded = new_bytes + config_size + manifest_size
    code = code_layer_bytes(layers2, config)
    print(
        f"second push: {uploaded} bytes stored ({len([d for d, _ in layers2 if d not in old])}"
        f" new layers of {len(layers2)}); code layers {code} bytes; {first} -> {second}"
    )
    report(
        "code-only change: pushed bytes / code layers' size",
        uploaded / code,
        "<= 1.2",
        uploaded / code <= 1.2,
        "x",
    )

    # 2. `repro pull RUN` vs `docker pull repo@digest`, the image removed before each. The
    # example's own layers are a few MB, where Python's start (~0.5 s) is all there is to
    # measure; a model-sized payload in the code makes the image one worth pulling.
    weights = project / "weights.bin"
    rng = random.Random(3)
    with weights.open("wb") as handle:  # incompressible, as trained weights are
        for _ in range(PAYLOAD_MB):
            handle.write(rng.randbytes(1024 * 1024))
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "weights")
    repro(project, "push", "--prod")
    repro(project, "run", "--prod", "train.py", "--config", "configs/base.json")
    repro(project, "push", "last")
    run_id = json.loads(repro(project, "runs", "--json", "-n", "1"))[0]["id"]
    record = json.loads(json.dumps(__import__("yaml").safe_load(
        (project / "runs" / run_id / "run.yaml").read_text())))  # fmt: skip
    reference = f"{record['image']['repository']}@{record['image']['digest']}"
    image_id = record["image"]["id"]
    ours, theirs = [], []
    for _ in range(3):
        remove(image_id)
        ours.append(timed(project, sys.executable, "-m", "reprostack", "pull", run_id))
        remove(image_id)
        theirs.append(timed(project, "docker", "pull", "-q", reference))
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(
        f"repro pull {statistics.median(ours):.2f} s, docker pull {statistics.median(theirs):.2f}"
        f" s (medians of 3; image with a {PAYLOAD_MB} MB payload layer)"
    )
    report("repro pull RUN / docker pull repo@digest", ratio, "<= 1.1", ratio <= 1.1, "x")

    # 3. Replay of the example's run without the image (and without any of the project's
    # images, so no layer cache): pull by digest vs the rebuild path.
    (project / "weights.bin").unlink()
    sh(project, "git", "rm", "-q", "--cached", "weights.bin")
    sh(project, "git", "commit", "-q", "-m", "no weights")
    repro(project, "run", "--prod", "train.py", "--config", "configs/base.json")
    repro(project, "push", "last")
    run_id = json.loads(repro(project, "runs", "--json", "-n", "1"))[0]["id"]
    remove_all(name)
    pulled = timed(project, sys.executable, "-m", "reprostack", "replay", run_id)
    remove_all(name)
    rebuilt = timed(project, sys.executable, "-m", "reprostack", "replay", "--rebuild", run_id)
    print(f"replay pulling {pulled:.2f} s, replay rebuilding {rebuilt:.2f} s")
    report("replay, rebuild path / pull path", rebuilt / pulled, ">= 5", rebuilt / pulled >= 5, "x")
    cleanup(project, name)


def yaml_name(project: Path) -> str:
    for line in (project / "repro.yaml").read_text().splitlines():
        if line.startswith("name: "):
            return line.split(": ", 1)[1].strip()
    raise SystemExit("no name in repro.yaml")


def first_tag(project: Path, variant: str) -> str:
    dockerfile_tag = repro(project, "build", f"--{variant}").split()[0]
    return dockerfile_tag.rsplit(":", 1)[1]


def code_module(size: int) -> str:
    """A Python module of about ``size`` bytes: functions with varied names and constants."""
    rng = random.Random(7)
    parts, total = [], 0
    while total < size:
        name = "".join(rng.choices(string.ascii_lowercase, k=12))
        text = f"def {name}(x):\n    return x * {rng.random()!r} + {rng.randrange(10**9)}\n\n"
        parts.append(text)
        total += len(text)
    return "".join(parts)


def remove_all(name: str) -> None:
    """Remove every image of the project (and, with them, the legacy builder's cache)."""
    out = subprocess.run(["docker", "images", "-q", "--filter",
                          f"label=org.opencontainers.image.title=localhost/repro-{name}"],
                         env=ENV, capture_output=True, text=True, check=False)  # fmt: skip
    for image in sorted(set(out.stdout.split())):
        remove(image)


def cleanup(project: Path, name: str) -> None:
    remove_all(name)
    shutil.rmtree(project.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
