"""A Unix-socket proxy in front of the test engine that a test can cut and bring back: the
engine "lost" mid-run (a daemon restart, a socket gone) without touching the real daemon."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path


class SocketProxy:
    """Forwards every connection on ``path`` to the engine socket ``target``."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(32)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every connection, as a dying daemon does."""
        with self._lock:
            server, self._server = self._server, None
            connections, self._open = self._open, []
        for sock in [s for s in [server] if s is not None] + connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, dest: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                dest.sendall(data)
        with contextlib.suppress(OSError):
            dest.shutdown(socket.SHUT_WR)
