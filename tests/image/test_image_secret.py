"""An index that needs credentials: BuildKit gets them as a secret, and no image keeps them.

The index is this suite's loopback index behind HTTP basic auth. The lock names it with
``${VAR}`` references, as ``repro lock`` writes it; the build runs with ``--network host`` so
that BuildKit's steps reach 127.0.0.1. The built image is then searched everywhere a value
could hide: history, config, labels, env, the saved image (every layer) and the exported
filesystem.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from handlocks import restamp
from pkgindex import Dist, build_index
from projects import build_variant
from reprostack.bases.resolve import resolve_bases
from reprostack.config import Config, load_config
from reprostack.engine import buildkit_available
from reprostack.errors import EnvironmentMissing
from reprostack.image.build import prepare_context
from reprostack.image.credentials import SECRET_ID, secret_file, secret_text
from reprostack.image.plan import plan_image
from reprostack.image.progress import BuildEvent, BuildLog

USER_VAR = "REPRO_TEST_INDEX_USER"
PASSWORD_VAR = "REPRO_TEST_INDEX_PASSWORD"
DISTS = (Dist("alpha", "1.0.0"), Dist("devtool", "3.0.0", requires=("alpha>=1.0",)))
HEADER = """# Written by `repro lock`; do not edit by hand (`repro lock --check` notices).
# repro-lock: 1
# variant: {variant}
# tool: hand 1
# python: 3.11
# platform: linux/amd64
# inputs-sha256: {zeros}
# body-sha256: {body_sha256}

"""


@dataclass
class AuthIndex:
    """The loopback index, answering 401 unless the request carries ``user:password``."""

    port: int
    user: str
    password: str
    requests: list[tuple[str, bool]] = field(default_factory=list)  # (path, authorised)

    @property
    def url(self) -> str:
        """Return the index URL as a lock writes it: credentials as variable references."""
        return f"http://${{{USER_VAR}}}:${{{PASSWORD_VAR}}}@127.0.0.1:{self.port}/simple"

    @property
    def token(self) -> str:
        """Return the Authorization header's base64 value (a form the secret could take)."""
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


def _serve(root: Path, index: AuthIndex) -> http.server.ThreadingHTTPServer:
    expected = f"Basic {index.token}"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            authorised = self.headers.get("Authorization") == expected
            index.requests.append((self.path, authorised))
            if not authorised:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test index"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    index.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def auth_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthIndex]:
    root = build_index(tmp_path_factory.mktemp("authindex"), DISTS)
    index = AuthIndex(0, f"user-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}")
    server = _serve(root, index)
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()


def _lock(variant: str, index_url: str, pins: Iterable[tuple[str, Path]]) -> str:
    body = f"--index-url {index_url}\n\n"
    for pin, wheel in pins:
        body += f"{pin} \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
    digest = hashlib.sha256(body.encode()).hexdigest()
    return HEADER.format(variant=variant, zeros="0" * 64, body_sha256=digest) + body


def _write_project(root: Path, index_url: str, wheels: Path) -> None:
    root.mkdir(parents=True)
    (root / "repro.yaml").write_text(
        'name: secret-index\npython: "3.11"\nbase_image: local/debian-python:bookworm\n'
        "lock:\n  tool: pip-tools\n  inputs: [requirements.in]\n"
        "  dev_inputs: [requirements-dev.in]\n"
    )
    (root / "requirements.in").write_text(f"--index-url {index_url}\nalpha\n")
    (root / "requirements-dev.in").write_text(f"--index-url {index_url}\ndevtool\n")
    (root / "train.py").write_text("import alpha\nprint(alpha.__version__)\n")
    locks = root / "lockfiles"
    locks.mkdir()
    alpha = ("alpha==1.0.0", wheels / "alpha-1.0.0-py3-none-any.whl")
    devtool = ("devtool==3.0.0", wheels / "devtool-3.0.0-py3-none-any.whl")
    (locks / "prod.txt").write_text(_lock("prod", index_url, [alpha]))
    (locks / "dev.txt").write_text(_lock("dev", index_url, [alpha, devtool]))
    restamp(root)  # builds refuse a stale lock: the headers describe these inputs


@pytest.fixture
def project(tmp_path: Path, auth_index: AuthIndex, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose locks name the index with credential references; variables set."""
    wheels = Path(tempfile.mkdtemp(dir=tmp_path))
    build_index(wheels, DISTS)
    root = tmp_path / "proj"
    _write_project(root, auth_index.url, wheels / "files")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit",
                    "-q", "--allow-empty", "-m", "init"], cwd=root, check=True)  # fmt: skip
    monkeypatch.setenv(USER_VAR, auth_index.user)
    monkeypatch.setenv(PASSWORD_VAR, auth_index.password)
    monkeypatch.delenv("REPRO_BUILDER", raising=False)
    return root


# -- without an engine --


def test_secret_text_quotes_values_and_names_missing_variables() -> None:
    lines = ["prod.txt: --index-url https://${A_USER}:${A_PASS}@host/simple"]
    text = secret_text(lines, {"A_USER": "me", "A_PASS": "it's $x"})
    assert text == "A_PASS='it'\"'\"'s $x'\nA_USER=me\n"
    with pytest.raises(EnvironmentMissing) as info:
        secret_text(lines, {"A_USER": "me", "A_PASS": ""})
    assert info.value.exit_code == 3
    assert info.value.message.endswith(", and A_PASS is not set in this environment")
    assert "export A_PASS" in (info.value.hint or "")


def test_secret_file_is_private_and_removed(tmp_path: Path) -> None:
    with secret_file("X=1\n") as path:
        assert path.name == SECRET_ID and path.read_text() == "X=1\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists() and not path.parent.exists()


def test_plan_mounts_the_secret_and_the_context_holds_only_references(
    project: Path, auth_index: AuthIndex, tmp_path: Path
) -> None:
    config = load_config(project, required=True)
    dev = plan_image(config, "dev", bases=resolve_bases(config))
    assert dev.credentials == (f"prod.txt: --index-url {auth_index.url}",
                               f"dev.txt: --index-url {auth_index.url}")  # fmt: skip
    # Three pip steps: the heavy part, the rest of the prod lock, the dev lock.
    assert dev.dockerfile.count(f"RUN --mount=type=secret,id={SECRET_ID},required=true") == 3
    context = tmp_path / "context"
    context.mkdir()
    prepare_context(dev, context)
    for path in context.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert auth_index.password.encode() not in data and auth_index.user.encode() not in data
    # A lock without credentials keeps the plain steps (and its committed goldens).
    for name in ("prod.txt", "dev.txt"):
        lock = project / "lockfiles" / name
        head, _, body = lock.read_text().partition("\n\n")
        body = body.replace(auth_index.url, "https://example.com/simple")
        digest = hashlib.sha256(body.encode()).hexdigest()
        lock.write_text(head.rsplit("\n", 1)[0] + f"\n# body-sha256: {digest}\n\n" + body)
    assert "--mount" not in plan_image(config, "dev", bases=resolve_bases(config)).dockerfile


# -- on the engine --


def _scan(chunks: Iterable[bytes], needles: list[bytes]) -> list[bytes]:
    """Return the needles found in a stream of chunks (a match may straddle two chunks)."""
    found: set[bytes] = set()
    keep = max(len(n) for n in needles) - 1
    carry = b""
    for chunk in chunks:
        window = carry + chunk
        found.update(n for n in needles if n in window)
        carry = window[-keep:]
    return sorted(found)


def _buildkit_or_skip() -> None:
    if not buildkit_available():
        pytest.skip("no docker CLI here can drive BuildKit (needed for index credentials)")


@pytest.mark.engine
def test_credentials_reach_pip_as_a_secret_and_never_the_image(
    project: Path,
    auth_index: AuthIndex,
    docker_client: Any,
    docker_engine: Any,
    base_image: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _buildkit_or_skip()
    config: Config = load_config(project, required=True)
    resolve_bases(config, engine=docker_engine)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    raw: list[str] = []
    original = BuildLog.buildkit

    def record(self: BuildLog, line: str) -> None:
        raw.append(line)
        original(self, line)

    monkeypatch.setattr(BuildLog, "buildkit", record)
    events: list[BuildEvent] = []
    auth_index.requests.clear()
    built = build_variant(config, "dev", builder="buildkit", no_cache=True, reuse=False,
                        network="host", progress=events.append, engine=docker_engine)  # fmt: skip
    assert built.builder == "buildkit"

    # The install really happened, through the index, with the credentials.
    out = docker_client.containers.run(
        built.id, ["python", "-c", "import alpha, devtool; print(alpha.__version__)"],
        remove=True, network_disabled=True,
    )  # fmt: skip
    assert out.decode().strip() == "1.0.0"
    fetched = {path for path, ok in auth_index.requests if ok}
    assert "/simple/alpha/" in fetched and "/simple/devtool/" in fetched
    assert any(path.endswith(".whl") for path in fetched)
    # The secret file lived outside the context and is gone.
    assert not list(private_tmp.glob("repro-secret-*"))

    everything = [auth_index.password.encode(), auth_index.token.encode(),
                  auth_index.user.encode()]  # fmt: skip
    # The build log (pip shows the user, never the password).
    log_text = "\n".join(raw) + "\n".join(e.text for e in events)
    assert raw and auth_index.password not in log_text and auth_index.token not in log_text
    # History, config, labels and env.
    history = json.dumps(docker_client.api.history(built.id)).encode()
    image = docker_client.images.get(built.id)
    attrs = json.dumps(image.attrs).encode()
    assert _scan([history, attrs], everything) == []
    assert "RUN /bin/sh -c set -a && . /run/secrets/repro-pip" in history.decode()
    assert not any(PASSWORD_VAR in item for item in image.attrs["Config"]["Env"])
    # Every layer of the saved image, and the exported filesystem.
    assert _scan(image.save(named=False), everything) == []
    container = docker_client.containers.create(built.id, command=["true"])
    try:
        assert _scan(container.export(), everything) == []
    finally:
        container.remove()


@pytest.mark.engine
def test_missing_variable_is_named_before_building(
    project: Path,
    docker_client: Any,
    docker_engine: Any,
    base_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _buildkit_or_skip()
    config = load_config(project, required=True)
    resolve_bases(config, engine=docker_engine)
    monkeypatch.delenv(PASSWORD_VAR)
    with pytest.raises(EnvironmentMissing) as info:
        build_variant(config, "prod", builder="buildkit", reuse=False, engine=docker_engine)
    assert f"{PASSWORD_VAR} is not set" in info.value.message
    assert info.value.exit_code == 3


@pytest.mark.engine
def test_the_legacy_builder_refuses_an_index_with_credentials(
    project: Path, auth_index: AuthIndex, docker_client: Any, base_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("REPRO_BUILDER", "legacy")
    code = "from reprostack.cli import main; main(['build', '--prod'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                            text=True, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "the legacy builder was asked for" in output and "Traceback" not in output
    assert "--builder buildkit" in output
    assert auth_index.password not in output
    written = (project / "dockerfiles" / "Dockerfile.prod").read_text()
    assert f"--mount=type=secret,id={SECRET_ID}" in written
    assert os.environ[PASSWORD_VAR] not in written


@pytest.mark.engine
def test_without_a_buildkit_cli_the_refusal_says_what_to_install(
    project: Path,
    docker_client: Any,
    docker_engine: Any,
    base_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reprostack.engine.cli

    config = load_config(project, required=True)
    resolve_bases(config, engine=docker_engine)
    monkeypatch.setattr(reprostack.engine.cli, "buildkit_available", lambda: False)
    with pytest.raises(EnvironmentMissing) as info:
        build_variant(config, "prod", reuse=False, engine=docker_engine)
    assert "no docker CLI here can drive BuildKit" in info.value.message
    assert "buildx" in (info.value.hint or "") and info.value.exit_code == 3
