"""`repro build`'s import smoke test: a package that installs but cannot import fails the
build (exit 1) naming the module, on a real engine, with a tiny local wheel."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from paths import TESTS
from projects import build_variant
from reprostack.bases.resolve import resolve_bases
from reprostack.config import load_config
from reprostack.errors import CheckFailed
from reprostack.image.smoke import check_imports, direct_dependencies

pytestmark = pytest.mark.engine

CASE = TESTS / "image_cases" / "scripts"
# What a torchaudio built against another torch says at import time.
BROKEN = 'raise ImportError("torchaudio 2.5.0 needs torch 2.5, found 2.4.1")\n'


def _wheel(folder: Path, name: str, init: str) -> Path:
    dist = f"{name}-1.0.0.dist-info"
    files = {
        f"{name}/__init__.py": init.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"{name}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in files.items():
            archive.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)
    return wheel


def _project(root: Path, smoke: bool | None = None) -> Path:
    """The `scripts` image case plus `brokenaudio` (import raises) and `toolsonly` (a
    distribution with no module at all, skipped), locked by hand like the case."""
    shutil.copytree(CASE, root)
    wheels = root / "wheels"
    _wheel(wheels, "brokenaudio", BROKEN)
    only_data = _wheel(wheels, "toolsonly", "")
    with zipfile.ZipFile(only_data) as archive:  # rewrite it with no module in it
        kept = {n: archive.read(n) for n in archive.namelist() if "dist-info" in n}
    only_data.unlink()
    with zipfile.ZipFile(only_data, "w") as archive:
        for member, data in kept.items():
            if member.endswith("RECORD"):
                data = b"\n".join(x for x in data.split(b"\n") if b"__init__" not in x)
            archive.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)
    (root / "requirements.in").write_text("alpha\nbrokenaudio\ntoolsonly\n")
    lock = root / "lockfiles" / "prod.txt"
    head, _, body = lock.read_text().partition("\n\n")
    for name in ("brokenaudio", "toolsonly"):
        digest = hashlib.sha256((wheels / f"{name}-1.0.0-py3-none-any.whl").read_bytes())
        body += f"{name}==1.0.0 \\\n    --hash=sha256:{digest.hexdigest()}\n"
    body_sha = hashlib.sha256(body.encode()).hexdigest()
    head = "\n".join(
        f"# body-sha256: {body_sha}" if line.startswith("# body-sha256:") else line
        for line in head.splitlines()
    )
    lock.write_text(head + "\n\n" + body)
    if smoke is not None:
        with (root / "repro.yaml").open("a") as config_file:
            config_file.write(f"  smoke_test: {'true' if smoke else 'false'}\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t",
                                                 "commit", "-qm", "case"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def test_a_module_that_cannot_import_fails_the_build_by_name(
    tmp_path: Path, docker_engine: Any, docker_client: Any
) -> None:
    config = load_config(_project(tmp_path / "case"))
    assert config.build.smoke_test is True  # on unless switched off
    assert direct_dependencies(config, "prod") == ["alpha", "brokenaudio", "toolsonly"]
    resolve_bases(config, engine=docker_engine)
    built = build_variant(config, "prod", engine=docker_engine)
    try:
        with pytest.raises(CheckFailed) as caught:
            check_imports(config, "prod", built.id, built.tags[0], docker_engine)
        message = caught.value.message
        assert caught.value.exit_code == 1
        assert (
            f"import brokenaudio (from brokenaudio) fails in {built.tags[0]}: ImportError: "
            "torchaudio 2.5.0 needs torch 2.5, found 2.4.1"
        ) in message
        assert "alpha" not in message.split("\n1 module")[0].replace("brokenaudio", "")
        assert "toolsonly" not in message  # no module to import: skipped, not failed
        assert f"the image is kept as {built.tags[0]}" in message
        assert "build.smoke_test: false" in (caught.value.hint or "")
        assert docker_engine.image(built.tags[0]) is not None  # kept, to be looked into
    finally:
        for tag in built.tags:
            docker_client.images.remove(tag, force=True)


def test_the_smoke_test_can_be_switched_off(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path / "case", smoke=False))
    assert config.build.smoke_test is False
