"""A failed build names the step that failed, with that step's own last lines, and a fix.

An engine lost during a build is the engine going away (exit 3), never a failed step; a
build ended by SIGTERM leaves no temporary folder behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from paths import TESTS
from projects import REPRO, git, remove_project_images, wheel_project
from reprostack.bases.resolve import resolve_bases
from reprostack.config import Config, load_config
from reprostack.engine import EngineUnavailable, buildkit_available, connect
from reprostack.errors import ReproError
from reprostack.image.build import BuildRequest, _failure_hint, build_image
from reprostack.image.progress import BuildEvent, BuildLog
from socket_proxy import SocketProxy

# BuildKit's plain progress with two stages running at once: builder's pip fails while
# deps' useradd is still printing.
INTERLEAVED = """\
#5 [builder 3/4] COPY prod/ /tmp/repro-lock/
#5 DONE 0.1s
#6 [deps 2/4] RUN useradd --system repro
#7 [builder 4/4] RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r x.txt
#6 0.311 useradd: warning: the home directory already exists.
#7 1.204 Collecting alpha==1.0.0
#6 0.402 Not copying any file from skel directory into it.
#7 2.518 ERROR: Could not find a version that satisfies the requirement alpha==1.0.0
#7 2.519 ERROR: No matching distribution found for alpha==1.0.0
#6 DONE 0.5s
#7 ERROR: process "/bin/sh -c /opt/venv/bin/pip install" did not complete successfully: exit code: 1
#8 [deps 3/4] COPY --from=builder /opt/venv /opt/venv
------
 > [builder 4/4] RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r x.txt:
------
ERROR: failed to solve: process "/bin/sh -c pip install" did not complete successfully: exit code: 1
"""


def test_the_failed_step_and_only_its_lines_are_kept() -> None:
    log = BuildLog()
    for line in INTERLEAVED.splitlines():
        log.buildkit(line)
    assert log.failed.startswith("[builder 4/4] RUN /opt/venv/bin/pip install")
    assert log.current == log.failed
    assert list(log.tail) == [
        "Collecting alpha==1.0.0",
        "ERROR: Could not find a version that satisfies the requirement alpha==1.0.0",
        "ERROR: No matching distribution found for alpha==1.0.0",
    ]
    assert log.summary[-1].startswith("ERROR: failed to solve: process")


def test_a_tls_failure_points_at_build_ca_certificates() -> None:
    hint = _failure_hint(["WARNING: Retrying ... [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                          "verify failed: unable to get local issuer certificate"])  # fmt: skip
    assert "`build.ca_certificates:`" in hint and "host_ca_bundle: true" in hint
    assert _failure_hint(["ERROR: No matching distribution"]).startswith("fix what the output")


# --- The engine lost during a build, and a build ended by a signal (real engine) ---

CASES = TESTS / "image_cases"


def _builders() -> list[Any]:
    return [
        "legacy",
        pytest.param("buildkit", marks=pytest.mark.skipif(
            not buildkit_available(), reason="no docker CLI here can drive BuildKit")),
    ]  # fmt: skip


def _engine_socket() -> str:
    address = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not address.startswith("unix://"):
        pytest.skip("the engine is not on a Unix socket: no proxy to cut")
    return address.removeprefix("unix://")


def _scripts_case(tmp: Path, docker_engine: Any) -> Config:
    """The `scripts` image case as a committed git repository with its bases pinned."""
    root = tmp / "scripts"
    shutil.copytree(CASES / "scripts", root)
    git(root, "init", "-q")
    config = load_config(root, required=True)
    resolve_bases(config, engine=docker_engine)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "case")
    return config


@pytest.mark.engine
@pytest.mark.parametrize("builder", _builders())
def test_an_engine_lost_mid_build_is_the_engine_going_away_not_a_failed_step(
    builder: str,
    tmp_path: Path,
    docker_engine: Any,
    base_image_ref: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _scripts_case(tmp_path, docker_engine)
    bases = resolve_bases(config, engine=docker_engine)
    dockerfile = tmp_path / "Dockerfile.slow"
    dockerfile.write_text(f"FROM {base_image_ref}\nRUN echo {uuid.uuid4().hex} && sleep 20\n")
    proxy = SocketProxy(tmp_path / "engine.sock", _engine_socket())
    proxy.start()
    monkeypatch.setenv("DOCKER_HOST", proxy.docker_host)  # the CLI (BuildKit) goes through it too
    engine = connect()

    def cut_in_the_sleep(event: BuildEvent) -> None:
        if event.kind == "step" and "sleep 20" in event.text:
            proxy.cut()  # the daemon "dies" while the step runs

    request = BuildRequest(config, "dev", bases, dockerfile=dockerfile, builder=builder,
                           no_cache=True, tag=False)  # fmt: skip
    try:
        with pytest.raises(ReproError) as info:
            build_image(request, progress=cut_in_the_sleep, engine=engine)
    finally:
        proxy.cut()
    error = info.value
    assert isinstance(error, EngineUnavailable), error.message
    assert error.exit_code == 3
    assert error.message.startswith(f"lost the Docker engine at {proxy.docker_host} while "
                                    f"building localhost/repro-case-scripts:dev-")  # fmt: skip
    assert "failed at" not in error.message and "sleep" not in error.message
    assert error.hint == "check that the engine is still running (`docker info`)"
    assert "lock" not in error.hint


def _temp_of(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir())


@pytest.mark.engine
@pytest.mark.parametrize("builder", _builders())
def test_sigterm_mid_build_removes_every_temp_folder_and_exits_143(
    builder: str, tmp_path: Path, docker_client: Any
) -> None:
    name = f"sig-{uuid.uuid4().hex[:8]}"
    os.environ["REPRO_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        project = wheel_project(tmp_path / "p", name)
    finally:
        os.environ.pop("REPRO_CACHE_DIR", None)
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(own_tmp), "REPRO_BUILDER": builder,
           "REPRO_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    # The temp folder the build has while its builder runs: BuildKit's image-id file's, or
    # the legacy build's context.
    marker = "repro-iid-" if builder == "buildkit" else "repro-build-"
    proc = subprocess.Popen([*REPRO, "build", "--prod", "--no-cache"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(n.startswith(marker) for n in _temp_of(own_tmp)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the builder's run
        assert proc.poll() is None, "the build ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        remove_project_images(docker_client, f"localhost/repro-{name}")
    assert proc.returncode in (143, 130), err
    assert "Traceback" not in err
    assert _temp_of(own_tmp) == []  # no repro-iid-*, repro-build-*, repro-code-*, ...
