"""Installing reprostack as people do: as a uv tool (PEP 668 systems), and with every extra."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from paths import ROOT
from toolwheels import _closure, _record_hash, repack

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Extras for the people who work on reprostack, not for its users.
DEVELOPER_EXTRAS = {"test", "docs", "all"}


def project_wheel(folder: Path) -> Path:
    """The project's wheel, packed from the source tree and pyproject.toml's metadata (the
    build backend is not installed in the test venv and the test runs offline)."""
    project = PYPROJECT["project"]
    init = (ROOT / "src" / "reprostack" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__ = "([^"]+)"', init)
    assert match, "src/reprostack/__init__.py names __version__"
    version = match.group(1)
    info = f"reprostack-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((ROOT / "src" / "reprostack").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(ROOT / "src").as_posix()] = path.read_bytes()
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Requires-Python: {project['requires-python']}",
    ]
    metadata += [f"Requires-Dist: {dep}" for dep in project["dependencies"]]
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    scripts = "".join(f"{name} = {target}\n" for name, target in project["scripts"].items())
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"reprostack-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return wheel


def test_uv_tool_install_gives_a_working_repro(tmp_path: Path) -> None:
    """`uv tool install .` is what the README offers where pip refuses (PEP 668): it installs
    into its own tool folder and puts `repro` on PATH. Offline: dependencies come from wheels
    repacked from this venv."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).is_file():
        pytest.skip("uv is not installed")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    needed = [
        re.split(r"[<>=;\[ ]", dep)[0]
        for dep in PYPROJECT["project"]["dependencies"]
        if "python_version" not in dep
    ]
    for dist in _closure(needed):
        repack(dist, wheels)
    wheel = project_wheel(wheels)
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
        "UV_CACHE_DIR": str(tmp_path / "cache"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    install = subprocess.run(
        [uv, "tool", "install", "--offline", "--no-index", "--find-links", str(wheels),
         "--python", sys.executable, str(wheel)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    repro = tmp_path / "bin" / "repro"
    assert repro.is_file(), "uv put `repro` in UV_TOOL_BIN_DIR"
    helped = subprocess.run(
        [str(repro), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert "Usage: repro" in helped.stdout


def test_the_all_extra_covers_every_user_facing_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "all" in extras, "pyproject.toml has an `all` extra"
    covered = set(extras["all"])
    for name, requirements in extras.items():
        if name in DEVELOPER_EXTRAS:
            continue
        for requirement in requirements:
            assert requirement in covered, f"reprostack[all] lacks {requirement} (from [{name}])"
