"""Index credentials for a build: from the caller's environment to a BuildKit secret, nowhere else.

A lock keeps an index's credentials as ``${VAR}`` references (``--index-url
https://${USER_VAR}:${TOKEN_VAR}@host/simple``). At build time the values are written as
``VAR='value'`` lines into a 0600 file in a private temporary folder outside the context, handed
to BuildKit with ``--secret id=repro-pip,src=FILE``, and mounted only for the ``pip install``
steps, which read it into pip's environment so that pip expands the references itself. The
file is removed when the build ends; the Dockerfile, the context, the tag and the labels only
ever hold the variable names.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from reprostack.errors import EnvironmentMissing
from reprostack.locktext import env_references

SECRET_ID = "repro-pip"


def referenced_variables(lines: Sequence[str]) -> tuple[str, ...]:
    """Return the variable names the ``${VAR}`` references in ``lines`` use, sorted, unique."""
    return tuple(sorted(env_references(list(lines))))


def secret_text(lines: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """Return the secret's content: one shell-quoted ``NAME='value'`` line per variable.

    ``lines`` are the lock lines that need credentials (``prod.txt: --index-url ...``).
    Raises EnvironmentMissing (exit 3) naming every variable that is unset or empty: pip
    leaves such a reference as it is, and the index would then answer 401 deep in the build.
    """
    env = os.environ if environ is None else environ
    names = referenced_variables(lines)
    missing = [name for name in names if not env.get(name)]
    if missing:
        listed = ", ".join(missing)
        raise EnvironmentMissing(
            f"the build's locks use an index that needs credentials ({lines[0]}), and "
            f"{listed} {'is' if len(missing) == 1 else 'are'} not set in this environment",
            hint=f"export {listed}, then build again; the values reach the build only as a "
            "BuildKit secret, never an image layer",
        )
    return "".join(f"{name}={shlex.quote(env[name])}\n" for name in names)


@contextlib.contextmanager
def secret_file(text: str) -> Iterator[Path]:
    """Write ``text`` to a 0600 file in a new 0700 folder and remove both afterwards.

    Yields the file's path. The folder is made by ``mkdtemp``, never inside a build context.
    """
    folder = Path(tempfile.mkdtemp(prefix="repro-secret-"))
    try:
        path = folder / SECRET_ID
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
