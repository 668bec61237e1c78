"""A recorded-request fake of the Kubernetes API server, for the official client's wire calls.

No API server can run here, so this tiny HTTP server answers the few calls ``repro`` makes
(create a Job, read a Job) the way the API server does, and records every request it got
(method, path, headers, JSON body) for the tests to read. The client under test is the real
``kubernetes`` package, configured by a real kubeconfig file that points here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass
class FakeKubeApi:
    """The server's address, what it was asked, and the Jobs it holds."""

    url: str
    kubeconfig: Path
    requests: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refuse: tuple[int, str] | None = None  # (status, message) for the next create
    pods: list[dict[str, Any]] = field(default_factory=list)  # what a pod listing returns
    # The status a Job reports from its creation on ({}: still running), so that a run
    # followed to its end ends without a cluster to run it.
    created_status: dict[str, Any] = field(default_factory=dict)


def _handler(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any] | None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            api.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
            )
            return body

        def do_POST(self) -> None:
            body = self._record()
            parts = self.path.split("?")[0].strip("/").split("/")
            # apis/batch/v1/namespaces/NS/jobs
            if parts[:3] != ["apis", "batch", "v1"] or parts[-1] != "jobs" or body is None:
                self._answer(404, {"kind": "Status", "code": 404, "message": "not found"})
                return
            if api.refuse is not None:
                status, message = api.refuse
                self._answer(
                    status,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": message,
                        "code": status,
                    },
                )
                return
            namespace, name = parts[4], body["metadata"]["name"]
            body = json.loads(json.dumps(body))  # the recorded request stays as it came
            body["metadata"]["uid"] = f"uid-{len(api.jobs) + 1}"
            body["metadata"]["namespace"] = namespace
            body["status"] = json.loads(json.dumps(api.created_status))
            api.jobs[(namespace, name)] = body
            self._answer(201, body)

        def do_GET(self) -> None:
            self._record()
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:2] == ["api", "v1"] and parts[-1] == "pods":
                listing = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": api.pods}
                self._answer(200, listing)
                return
            if parts[-1] == "status":  # .../jobs/NAME/status: the same Job
                parts = parts[:-1]
            if len(parts) == 7 and parts[:3] == ["apis", "batch", "v1"] and parts[5] == "jobs":
                job = api.jobs.get((parts[4], parts[6]))
                if job is not None:
                    self._answer(200, job)
                    return
            self._answer(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": "not found",
                    "code": 404,
                    "reason": "NotFound",
                },
            )

    return Handler


@pytest.fixture
def kube_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """A fake API server on loopback and KUBECONFIG pointing at it (as kubectl would read)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig = tmp_path / "kubeconfig"
    api = FakeKubeApi(url=url, kubeconfig=kubeconfig)
    server.RequestHandlerClass = _handler(api)
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: fake\n  cluster: {{server: '{url}'}}\n"
        "users:\n- name: me\n  user: {token: test-token}\n"
        "contexts:\n- name: test\n  context: {cluster: fake, user: me, namespace: ml}\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
