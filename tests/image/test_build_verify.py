"""`repro build --prod --verify`: two clean builds compared file by file."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from image_cases.make_cases import make_wheel
from paths import TESTS
from projects import git
from reprostack.image.verify import compare_filesystems

CASE = TESTS / "image_cases" / "scripts"
# A lock of the size real projects have: pip installs, byte-compiles and records each package,
# and every one of those steps could leave a time stamp or an ordering behind.
PACKAGES = 60
MODULES_PER_PACKAGE = 12


def sizeable_lock(project: Path) -> int:
    """Write PACKAGES wheels into ``project/wheels`` and a hashed lock of them; return the count."""
    wheels = project / "wheels"
    shutil.rmtree(wheels)
    wheels.mkdir()
    body = "--no-index\n--find-links ../wheels\n\n"
    for index in range(PACKAGES):
        name = f"pkg{index:03d}"
        wheel = make_wheel(wheels, name, f"1.{index}.0", ())
        _add_modules(wheel, name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        body += f"{name}==1.{index}.0 \\\n    --hash=sha256:{digest}\n"
    lock = project / "lockfiles" / "prod.txt"
    header = lock.read_text().partition("\n\n")[0].splitlines()
    header = [line for line in header if not line.startswith("# body-sha256:")]
    header.append(f"# body-sha256: {hashlib.sha256(body.encode()).hexdigest()}")
    lock.write_text("\n".join(header) + "\n\n" + body)
    return PACKAGES


def _add_modules(wheel: Path, name: str) -> None:
    """Add modules (with functions worth byte-compiling) to a wheel, keeping RECORD honest."""
    import base64
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    record_name = next(member for member in files if member.endswith("/RECORD"))
    for number in range(MODULES_PER_PACKAGE):
        source = "".join(f"def f{k}(x):\n    return x * {k} + {number}\n\n" for k in range(40))
        files[f"{name}/m{number:02d}.py"] = source.encode()
    lines = []
    for member, data in files.items():
        if member != record_name:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{member},sha256={digest.decode()},{len(data)}")
    files[record_name] = ("\n".join([*lines, f"{record_name},,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(files):
            info = zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[member])


def test_compare_names_every_difference() -> None:
    a = {
        "etc/x": ("file", 0o644, 0, 0, "aa"),
        "bin/y": ("link", 0o777, 0, 0, "z"),
        "d": ("dir", 0o755, 0, 0, ""),
    }
    b = {
        "etc/x": ("file", 0o600, 0, 0, "aa"),
        "bin/y": ("link", 0o777, 0, 0, "z"),
        "new": ("file", 0o644, 0, 0, "bb"),
    }
    assert compare_filesystems(a, b) == ["d", "etc/x", "new"]
    assert compare_filesystems(a, a) == []


@pytest.mark.engine
def test_two_clean_prod_builds_are_identical(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project = tmp_path / "verify"
    shutil.copytree(CASE, project)
    # System packages run apt, dpkg, debconf and ldconfig (libgomp1 and libgfortran5 ship
    # shared libraries, tzdata asks debconf): their logs, caches and aux-cache must not make
    # the two builds differ. A sizeable lock makes pip install and byte-compile many files.
    # A name of its own: the engine is shared, and other builds of the case must not count.
    name = f"verify-{uuid.uuid4().hex[:8]}"
    config = (project / "repro.yaml").read_text().replace("name: case-scripts", f"name: {name}")
    (project / "repro.yaml").write_text(
        config + "system_packages: [libgomp1, libgfortran5, tzdata]\n"
    )
    packages = sizeable_lock(project)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(
        project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "case"
    )
    result = subprocess.run(
        [sys.executable, "-m", "reprostack", "build", "--prod", "--verify"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reproducible: " in result.stderr
    assert "paths identical in two clean builds" in result.stderr
    checked = int(result.stderr.split("reproducible: ")[1].split()[0].replace(",", ""))
    assert checked > packages * MODULES_PER_PACKAGE * 2  # sources and their .pyc files
    assert "differs:" not in result.stdout
    assert "AS builder" not in (project / "dockerfiles" / "Dockerfile.prod").read_text()
    # The two verification builds were throw-away: untagged and removed. Only the tagged
    # image of the build itself is left, and the tags point at it.
    ours = docker_client.images.list(
        filters={"label": [f"org.opencontainers.image.title=localhost/repro-{name}",
                           "dev.reprostack.variant=prod"]}
    )  # fmt: skip
    tag = result.stdout.split()[0]
    assert [image.tags for image in ours if not image.tags] == []
    latest = docker_client.images.get(tag.rsplit(":", 1)[0] + ":prod-latest")
    assert latest.id == docker_client.images.get(tag).id
    for image in ours:
        docker_client.images.remove(image.id, force=True)


def _cache_records(client: Any) -> dict[str, dict[str, Any]]:
    """The engine's build cache records by id (`docker system df -v`)."""
    return {str(r["ID"]): r for r in client.api.df().get("BuildCache") or []}


@pytest.mark.engine
def test_verify_leaves_the_engine_as_it_found_it(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    project = tmp_path / "leaves"
    shutil.copytree(CASE, project)
    name = f"leaves-{uuid.uuid4().hex[:8]}"
    config = (project / "repro.yaml").read_text().replace("name: case-scripts", f"name: {name}")
    (project / "repro.yaml").write_text(config)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(
        project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "case"
    )
    title = f"org.opencontainers.image.title=localhost/repro-{name}"

    def repro_build(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reprostack", "build", "--prod", *args],
                              cwd=project, capture_output=True, text=True, check=False,
                              timeout=900)  # fmt: skip

    try:
        first = repro_build()
        assert first.returncode == 0, first.stderr[-3000:]
        if "with buildkit" not in first.stderr:
            pytest.skip("the engine built without BuildKit: no build cache to measure")
        cache_before = _cache_records(docker_client)
        images_before = {i.id for i in docker_client.images.list(filters={"label": title})}

        verified = repro_build("--verify")
        assert verified.returncode == 0, verified.stderr[-3000:]
        assert "reproducible: " in verified.stderr
        assert "warning" not in verified.stderr

        cache_after = _cache_records(docker_client)
        images_after = {i.id for i in docker_client.images.list(filters={"label": title})}
        # Nothing of the two clean builds stays: neither their images nor their cache
        # (records a build elsewhere on this shared engine holds right now are not ours).
        made = {
            rid: (r["Description"], r["Size"])
            for rid, r in cache_after.items()
            if rid not in cache_before and not r["InUse"]
        }
        assert made == {}, "build cache the verification made is still on the engine"
        assert images_after == images_before
        # The build's own image stays, tagged as it was (that records from before stay is
        # the orchestration tests' to show: on a shared engine BuildKit's own garbage
        # collector or another user's prune may take old ones meanwhile).
        tag = first.stdout.split()[0]
        assert docker_client.images.get(tag).id in images_before
    finally:
        for image in docker_client.images.list(filters={"label": title}):
            docker_client.images.remove(image.id, force=True)
