"""A real package index on loopback for lock tests: tiny wheels, PEP 503 pages, sha256 links.

Each project page also exists in PEP 691's JSON form with PEP 700's ``upload-time`` per
file, served when the client asks for it (uv and pip do), so "as of a date" resolves offline.

Wheels are written directly (a zip with METADATA, WHEEL and RECORD), which takes milliseconds;
no build backend is involved.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# A fixed timestamp makes every wheel byte-identical across runs, hence stable hashes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Dist:
    """One release to publish: name, version, Requires-Dist lines and extras."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    requires_python: str | None = None
    tag: str = "py3-none-any"
    # PEP 700's upload-time: when the release reached the index.
    uploaded: str = "2020-06-01T00:00:00Z"


# The catalogue every lock test resolves against: dependencies, extras, markers, a conflict.
CATALOGUE = (
    Dist("alpha", "1.0.0", uploaded="2021-01-10T08:00:00Z"),
    Dist("alpha", "1.1.0", uploaded="2022-03-15T12:30:00Z"),
    Dist("alpha", "2.0.0", uploaded="2023-09-01T00:00:00Z"),
    Dist("beta", "1.0.0", requires=("alpha>=1.0,<2",)),
    Dist(
        "gamma",
        "0.5.0",
        requires=(
            "beta>=1.0",
            'delta>=1.0; extra == "fast"',
            'epsilon; sys_platform == "win32"',
            'zeta; python_version < "3.9"',
        ),
        extras=("fast",),
    ),
    Dist("delta", "1.0.0"),
    Dist("epsilon", "1.0.0"),
    Dist("zeta", "1.0.0"),
    Dist("conflict-a", "1.0.0", requires=("alpha>=2",)),
    Dist("devtool", "3.0.0", requires=("alpha>=1.0",)),
    Dist("linuxonly", "1.0.0", requires=('delta; platform_machine == "aarch64"',)),
)


def normalise(name: str) -> str:
    """Return the PEP 503 form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(dist: Dist, folder: Path) -> Path:
    """Write a minimal, installable wheel for ``dist`` into ``folder``; return its path."""
    module = dist.name.replace("-", "_")
    stem = f"{module}-{dist.version}"
    meta = ["Metadata-Version: 2.1", f"Name: {dist.name}", f"Version: {dist.version}"]
    if dist.requires_python:
        meta.append(f"Requires-Python: {dist.requires_python}")
    meta += [f"Provides-Extra: {extra}" for extra in dist.extras]
    meta += [f"Requires-Dist: {req}" for req in dist.requires]
    files = {
        f"{module}/__init__.py": f'__version__ = "{dist.version}"\n'.encode(),
        f"{stem}.dist-info/METADATA": ("\n".join(meta) + "\n").encode(),
        f"{stem}.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: pkgindex\nRoot-Is-Purelib: true\nTag: {dist.tag}\n"
        ).encode(),
    }
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()]
    record.append(f"{stem}.dist-info/RECORD,,")
    files[f"{stem}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{stem}-{dist.tag}.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data)
    path.write_bytes(buffer.getvalue())
    return path


def build_index(root: Path, dists: tuple[Dist, ...] = CATALOGUE) -> Path:
    """Build wheels and PEP 503 pages (with ``#sha256=`` fragments) under ``root``."""
    files = root / "files"
    simple = root / "simple"
    files.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[tuple[Dist, Path]]] = {}
    for dist in dists:
        by_project.setdefault(normalise(dist.name), []).append((dist, build_wheel(dist, files)))
    links = []
    for project, built in sorted(by_project.items()):
        (simple / project).mkdir(parents=True, exist_ok=True)
        anchors = []
        entries = []
        for dist, wheel in built:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            anchors.append(f'<a href="../../files/{wheel.name}#sha256={digest}">'
                           f"{html.escape(wheel.name)}</a><br/>")  # fmt: skip
            entry = {"filename": wheel.name, "url": f"../../files/{wheel.name}",
                     "hashes": {"sha256": digest}, "upload-time": dist.uploaded}  # fmt: skip
            if dist.requires_python:
                entry["requires-python"] = dist.requires_python
            entries.append(entry)
        page = "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
        (simple / project / "index.html").write_text(page)
        document = {"meta": {"api-version": "1.1"}, "name": project, "files": entries,
                    "versions": sorted({d.version for d, _ in built})}  # fmt: skip
        (simple / project / JSON_PAGE).write_text(json.dumps(document, indent=1))
        links.append(f'<a href="{project}/">{project}</a><br/>')
    (simple / "index.html").write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    return root


JSON_PAGE = "index.json"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self) -> Any:
        # PEP 691 content negotiation: a client that accepts JSON gets the JSON page. Except
        # pip before 26 (no --uploaded-prior-to to use upload times for): reading JSON pages,
        # pip 23 drops the "conflict is caused by" lines that lock tests check for.
        page = Path(self.translate_path(self.path)) / JSON_PAGE
        agent = re.match(r"pip/(\d+)", self.headers.get("User-Agent", ""))
        old_pip = agent is not None and int(agent.group(1)) < 26
        if JSON_TYPE in self.headers.get("Accept", "") and page.is_file() and not old_pip:
            data = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return io.BytesIO(data)
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@dataclass
class LocalIndex:
    """A running index: ``url`` is ``http://127.0.0.1:PORT/simple``."""

    root: Path
    port: int
    server: http.server.ThreadingHTTPServer = field(repr=False)

    @property
    def url(self) -> str:
        """Return the simple index URL."""
        return f"http://127.0.0.1:{self.port}/simple"


def serve(root: Path) -> Iterator[LocalIndex]:
    """Serve ``root`` over http on 127.0.0.1 and an ephemeral port until the generator ends."""

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalIndex(root, server.server_address[1], server)
    finally:
        server.shutdown()
        server.server_close()


# -- pytest fixtures (import them into a test module to use them) --


@pytest.fixture(scope="session")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """The CATALOGUE served on loopback for the whole session."""
    root = build_index(tmp_path_factory.mktemp("pkgindex"))
    yield from serve(root)


@pytest.fixture
def tool_caches(local_index: LocalIndex, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point uv, pip and Poetry at a cache private to this test session (beside the index)."""
    caches = local_index.root / "caches"
    for name in ("UV_CACHE_DIR", "PIP_CACHE_DIR", "POETRY_CACHE_DIR"):
        monkeypatch.setenv(name, str(caches / name.lower()))
    # A down index should fail at once in tests, not after uv's back-off.
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    return caches


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_caches: Path) -> Path:
    """An empty project folder, the current directory, with the tools' caches isolated."""
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def write_project(
    root: Path,
    *,
    tool: str | None,
    prod: str,
    dev: str | None = None,
    python: str = "3.11",
    platform: str = "linux/amd64",
) -> Path:
    """Write repro.yaml, requirements.in and (with ``dev``) requirements-dev.in under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["name: demo", f'python: "{python}"', f"platform: {platform}"]
    if tool:
        lines += ["lock:", f"  tool: {tool}"]
    (root / "repro.yaml").write_text("\n".join(lines) + "\n")
    (root / "requirements.in").write_text(prod)
    if dev is not None:
        (root / "requirements-dev.in").write_text(dev)
    return root
