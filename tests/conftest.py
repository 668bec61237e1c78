"""Session fixtures for tests that need a real Docker engine.

Engine tests skip loudly when no engine answers (see the summary line at the end of the run);
with ``REPRO_REQUIRE_ENGINE=1`` they fail instead, so CI can never pass by skipping them.
Start one with ``eval "$(ci/engine.sh start)"; ci/base-image.sh; eval "$(ci/registry.sh start)"``.
"""

from __future__ import annotations

import os
import signal
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
