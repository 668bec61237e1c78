"""Session fixtures for tests that need a real Docker engine, and the suite's tiers.

Engine tests skip loudly when no engine answers (see the summary line at the end of the run);
with ``REPRO_REQUIRE_ENGINE=1`` they fail instead, so CI can never pass by skipping them.
Start one with ``eval "$(ci/engine.sh start)"; ci/base-image.sh; eval "$(ci/registry.sh start)"``.

Tiers: a test that uses a service's fixture (directly or through another fixture) gets that
service's marker at collection (``SERVICE_FIXTURES``); ``bash ci/test.sh --fast`` deselects
those markers and sets ``REPRO_TEST_TIER=fast``, which arms tripwires in place of the services
(see ``_arm_tripwires``): a test that reaches one without its marker fails, it never skips.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from reprostack import engine
from reprostack.errors import EnvironmentMissing

# Fixtures of the loopback package index (local_index, tool_caches, project) and the MLflow
# server (mlflow_server, started only when a test asks for it) for every module.
pytest_plugins = ["pkgindex", "mlflow_server", "slurm_cluster", "fake_kube_api"]

BASE_IMAGE = os.environ.get("REPRO_BASE_IMAGE", "local/debian-python:bookworm")

# A suite started in the background of a script (`bash ci/test.sh &`) inherits SIGINT ignored,
# and an ignored signal stays ignored in every child (repro keeps it so, on purpose, as nohup
# users expect): the tests that press Ctrl-C on a child would then test nothing. A handler of
# our own is reset to the default in each child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
_SKIP_TAG = "[engine unavailable]"
_FAST = os.environ.get("REPRO_TEST_TIER") == "fast"
_START_HINT = 'start one with: eval "$(ci/engine.sh start)" && ci/base-image.sh'


@pytest.fixture
def own_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own (passed on to the repro processes it starts): no test
    reads what another cached, such as a fake engine's image ids, which come from names."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("REPRO_CACHE_DIR", str(folder))
    return folder


def _unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when CI demands an engine."""
    if os.environ.get("REPRO_REQUIRE_ENGINE") == "1":
        pytest.fail(f"REPRO_REQUIRE_ENGINE=1 but {reason}", pytrace=False)
    pytest.skip(f"{_SKIP_TAG} {reason}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[engine.Engine]:
    """The engine port connected to the engine at DOCKER_HOST."""
    try:
        connected = engine.connect()
    except EnvironmentMissing as exc:
        problem = exc.message
    else:
        problem = None
    if problem is not None:
        # Outside the except block, so a failure does not drag the SDK's traceback along.
        _unavailable(problem)
    yield connected
    connected.close()


@pytest.fixture(scope="session")
def docker_client(docker_engine: engine.Engine) -> Iterator[Any]:
    """A raw ``docker.DockerClient`` for checks that must not go through the port under test."""
    import docker

    client = docker.DockerClient(**docker.utils.kwargs_from_env())
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_engine: engine.Engine) -> str:
    """The id of the local base image (Debian bookworm with python3), built by ci/base-image.sh."""
    found = docker_engine.image(BASE_IMAGE)
    if found is None:
        _unavailable(f"base image {BASE_IMAGE} missing (run ci/base-image.sh)")
    return found.id


@pytest.fixture(scope="session")
def base_image_ref(base_image: str) -> str:
    """The base image's tag, for ``FROM`` lines (BuildKit cannot use a bare image id)."""
    return BASE_IMAGE


@pytest.fixture(scope="session")
def registry(docker_client: Any) -> str:
    """``host:port`` of the loopback registry started by ci/registry.sh."""
    address = os.environ.get("REPRO_REGISTRY", "127.0.0.1:5555")
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=3) as answer:
            ok = answer.status == 200
    except (urllib.error.URLError, OSError):
        ok = False
    if not ok:
        _unavailable(f'no registry at {address} (run: eval "$(ci/registry.sh start)")')
    return address


@pytest.fixture(autouse=True)
def _engine_marker(request: pytest.FixtureRequest) -> None:
    """Give every ``@pytest.mark.engine`` test the engine check, even without the fixture."""
    if request.node.get_closest_marker("engine") is not None:
        request.getfixturevalue("docker_client")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say in capitals when engine tests were skipped, so nobody mistakes a skip for a pass."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        text = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        if _SKIP_TAG in text:
            reason = text.split(_SKIP_TAG, 1)[1].strip()
            reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return
    total = sum(reasons.values())
    terminalreporter.write_sep(
        "!", f"ENGINE TESTS SKIPPED: no Docker engine ({total} tests)", red=True, bold=True
    )
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"  {count} x {reason}", red=True)
    terminalreporter.write_line(f"  {_START_HINT}; CI sets REPRO_REQUIRE_ENGINE=1", red=True)


# -- tiers --------------------------------------------------------------------------------------

# The fixture that stands for each service. Markers come from a test's fixture closure, so a
# test gets one however deep it asks (``registry`` needs ``docker_client``, which needs
# ``docker_engine``: a registry test is an engine test too). ``network`` stays a hand marker.
SERVICE_FIXTURES = {
    "engine": "docker_engine",
    "registry": "registry",
    "slurm": "slurm",
    "mlflow": "mlflow_server",
}
FAST_TIER_EXCLUDES = (*SERVICE_FIXTURES, "network")
# Registered here, not in pyproject.toml (which holds engine, network and slow): the repository
# locks its own pyproject.toml whole (tests/test_dogfood.py), so a line there means a re-lock.
_SERVICE_MARKERS = {
    "registry": "needs the loopback registry of ci/registry.sh (and so the engine)",
    "slurm": "needs the single-node Slurm cluster of ci/slurm.sh",
    "mlflow": "needs the MLflow tracking server of tests/mlflow_server.py",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, text in _SERVICE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if _FAST:
        config.pluginmanager.register(_FastTierGuard(), "fast-tier-guard")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Mark every test with the services its fixtures need, before ``-m`` deselects by them;
    after it, the fast tier insists that none is left (an ``-m`` of its own would let some in)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for marker, fixture in SERVICE_FIXTURES.items():
            if fixture in names:
                item.add_marker(marker)
    yield
    if _FAST:
        left = [i.nodeid for i in items if any(i.get_closest_marker(m) for m in FAST_TIER_EXCLUDES)]
        if left:
            raise pytest.UsageError(
                f"fast tier: {len(left)} selected tests need a service ({left[0]}, ...);"
                f" deselect them: -m 'not {' and not '.join(FAST_TIER_EXCLUDES)}'"
            )


class _FastTierGuard:
    """In the fast tier a service fixture is never set up: its test missed its marker (it asked
    for the fixture by name at run time, say). Fail it, so the tier cannot pass by skipping.

    A plugin of its own, not a hook of this conftest: session fixtures are set up through the
    session's hooks, which a conftest below the root folder is not part of."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        if fixturedef.argname in SERVICE_FIXTURES.values():
            pytest.fail(
                f"fast tier: this test needs the {fixturedef.argname} fixture but was not"
                " deselected; give it the service's marker (SERVICE_FIXTURES in tests/conftest.py)",
                pytrace=False,
            )


class _Tripwire:
    """A listening socket nobody should reach: counts the connections it accepts and drops."""

    def __init__(self, family: int, address: str | tuple[str, int]) -> None:
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.bind(address)
        self.socket.listen(16)
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            connection, _ = self.socket.accept()
            self.hits += 1
            connection.close()


_SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "sacct", "srun", "salloc")
_tripwires: dict[str, _Tripwire] = {}
_slurm_calls: Path | None = None


def _arm_tripwires() -> None:
    """Point the services' variables at tripwires instead of unsetting them: unset, a client
    falls back to a default (``/var/run/docker.sock``, ``/etc/slurm``) that may well answer on a
    developer's machine, and a test that needs it would pass or skip there. Children inherit
    the variables, so ``repro`` processes a test starts are watched too."""
    global _slurm_calls
    folder = Path(tempfile.mkdtemp(prefix="repro-fast-tier-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    _tripwires["engine"] = _Tripwire(socket.AF_UNIX, str(folder / "docker.sock"))
    os.environ["DOCKER_HOST"] = f"unix://{folder / 'docker.sock'}"
    registry = _Tripwire(socket.AF_INET, ("127.0.0.1", 0))
    _tripwires["registry"] = registry
    os.environ["REPRO_REGISTRY"] = f"127.0.0.1:{registry.socket.getsockname()[1]}"
    # Slurm's clients talk to slurmctld only after reading a config and a munge credential;
    # shims on PATH catch the call itself. SLURM_CONF names a file that is not there.
    shims = folder / "bin"
    shims.mkdir()
    _slurm_calls = folder / "slurm-calls"
    _slurm_calls.touch()
    for command in _SLURM_COMMANDS:
        shim = shims / command
        shim.write_text(
            f'#!/bin/sh\necho "$0 $*" >> {_slurm_calls}\n'
            'echo "fast tier: no Slurm here (tests/conftest.py)" >&2\nexit 1\n'
        )
        shim.chmod(0o755)
    os.environ["PATH"] = f"{shims}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["SLURM_CONF"] = str(folder / "no-slurm.conf")
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def _trips() -> dict[str, int]:
    counts = {name: wire.hits for name, wire in _tripwires.items()}
    if _slurm_calls is not None:
        counts["slurm"] = len(_slurm_calls.read_text().splitlines())
    return counts


@pytest.fixture(autouse=True)
def _fast_tier_tripwires() -> Iterator[None]:
    """Fail a fast-tier test that reached a service (itself or through a process it started)."""
    if not _FAST:
        yield
        return
    before = _trips()
    yield
    reached = [name for name, count in _trips().items() if count > before[name]]
    if reached:
        pytest.fail(
            f"fast tier: this test reached {', '.join(reached)} without the marker; make it use"
            " the service's fixture (tests/conftest.py SERVICE_FIXTURES) or stop it reaching out",
            pytrace=False,
        )


# Tests of `repro lock`, which pins the bases when an engine answers and says nothing when
# none does: in the full suite they lock with the engine there, in the fast tier as on a
# machine without one (no engine at all, not a tripwire).
LOCKING_TESTS = ("lock", "test_corpus.py")


@pytest.fixture(autouse=True)
def _locking_without_engine_in_fast_tier(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    relative = Path(str(request.node.path)).relative_to(Path(__file__).parent)
    if _FAST and relative.parts[0] in LOCKING_TESTS:
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/repro-fast-tier/docker.sock")


if _FAST:
    _arm_tripwires()
