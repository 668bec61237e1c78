"""Commands import only what they use: the heavy modules stay out of the fast paths.

Each command runs for real in a fresh interpreter (what `repro` does: ``reprostack.cli.main``),
and the modules it imported are read at exit. No timing: a module that a command must not
import is a name in ``sys.modules``, whatever the machine's load. Importing the docker SDK,
jinja2 or the engine port costs tens to hundreds of ms on every start of a command that never
uses them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paths import TESTS
from projects import make_repo

# What the start of a command must never pay for unless it uses it.
HEAVY = (
    "docker",
    "jinja2",
    "mlflow",
    "kubernetes",
    "matplotlib",
    "cyclonedx",
    "numpy",
    "torch",
    "requests",
    "jsonschema",
    "blake3",
    "tensorboard",
    "logging",  # concurrent.futures pulls it in: ~10 ms
    "concurrent.futures",
    "importlib.metadata",  # a walk of every distribution's metadata
    "email",
    "http.client",
    "urllib.request",
    "ssl",
    "socket",
    "reprostack.engine",
    # The image package's builders and probes (its recorder, which copies env files into a
    # local run's record, is light and used there).
    "reprostack.image.build",
    "reprostack.image.context",
    "reprostack.image.fingerprint",
    "reprostack.image.plan",
    "reprostack.image.render",
    "reprostack.image.verify",
    "reprostack.registry",
    "reprostack.sbom",
    "reprostack.cluster",
    "reprostack.lock",
    "reprostack.bases",
    "reprostack.replay",
    "reprostack.doctor",
    "reprostack.runs.container",
)

# Runs the CLI as the `repro` script does, and prints the imported modules' names at exit
# (after click's sys.exit, so everything the command did is in).
PROBE = """\
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr))
from reprostack.cli import main
main(sys.argv[1:])
"""


def imported(args: list[str], cwd: Path, **extra_env: str) -> set[str]:
    """The modules ``repro ARGS`` imported, run in ``cwd`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **extra_env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def heavy_in(modules: set[str]) -> list[str]:
    """The HEAVY modules (or their submodules) among ``modules``.

    nvidia-smi's XML answer needs the XML parser: it is heavy only on a host without a driver.
    """
    heavy = HEAVY if shutil.which("nvidia-smi") else (*HEAVY, "xml.etree")
    return sorted(m for m in modules for h in heavy if m == h or m.startswith(h + "."))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "p",
        {"repro.yaml": "name: p\n", "noop.py": "pass\n", ".gitignore": "/runs/\n"},
    )


def test_help_imports_no_subcommand(project: Path) -> None:
    modules = imported(["--help"], project)
    assert heavy_in(modules) == []
    # --help reads no repro.yaml and loads no subcommand: click and the package root only.
    assert sorted(m for m in modules if m.startswith("reprostack.")) == ["reprostack.cli"]
    assert "yaml" not in modules


@pytest.mark.parametrize("args", [["fingerprint"], ["fingerprint", "--json"]])
def test_fingerprint_imports_only_the_fingerprint(project: Path, args: list[str]) -> None:
    modules = imported(args, project)
    assert heavy_in(modules) == []
    # The fingerprint's own types only: not the run record, its sections or its store.
    run_record = {"reprostack.record.run", "reprostack.record.sections", "reprostack.record.store"}
    assert not {"reprostack.runs", "reprostack.data", *run_record} & modules


def test_fingerprint_with_a_driver_imports_no_thread_pool(project: Path) -> None:
    """nvidia-smi's two queries run side by side without concurrent.futures (and logging)."""
    modules = imported(
        ["fingerprint", "--json"],
        project,
        PATH=f"{TESTS / 'fake_bin'}:{os.environ['PATH']}",
        FAKE_NVIDIA_SMI_CASE=str(TESTS / "fixtures" / "nvidia-smi" / "r555-2x-l4"),
    )
    assert "xml.etree.ElementTree" in modules  # the driver answered and its XML was read
    assert sorted(m for m in heavy_in(modules) if not m.startswith("xml.etree")) == []


def test_local_run_imports_no_container_machinery(project: Path) -> None:
    modules = imported(["run", "--local", "noop.py"], project)
    assert heavy_in(modules) == []
    # No data: in repro.yaml, nothing to check: the data recorder, not the walkers and hashers.
    assert sorted(m for m in modules if m.startswith("reprostack.data.")) == [
        "reprostack.data.recorder"
    ]
    assert list((project / "runs").iterdir())  # the run was recorded: the path really ran
