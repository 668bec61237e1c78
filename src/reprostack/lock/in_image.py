"""Run pip-compile inside the project's builder base when this host does not match the target.

pip-compile evaluates markers for the interpreter that runs it, so for another Python or
platform it runs in a throw-away container of the pinned builder base: a temporary venv gets
the host's pip and pip-tools versions, the project is mounted read-only and the result is
written to a mounted temp folder. Nothing is ever pulled: a missing base is an error.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reprostack.config import Config
from reprostack.engine import ContainerSpec, Engine, ImageInfo, Mount
from reprostack.errors import EnvironmentMissing, ReproError
from reprostack.lock.base import LockRequest

if TYPE_CHECKING:
    from reprostack.image.bases import BaseChoice

# The default bridge in the product; "host" reaches an index served on this machine's loopback.
NETWORK_ENV = "REPRO_LOCK_NETWORK"
# A folder of wheels (pip, pip-tools and their dependencies) to install from instead of the
# default index: for machines that reach the project's index but not the public one.
WHEELS_ENV = "REPRO_LOCK_TOOL_WHEELS"

ROLE_LABEL = "dev.reprostack.role"

_PROJECT = "/opt/repro-lock/project"
_OUT = "/opt/repro-lock/out"
_CA = "/opt/repro-lock/ca.pem"
_WHEELS = "/opt/repro-lock/wheels"
_VENV = "/tmp/repro-lock-venv"
# Exit codes of the script below that mean "the image lacks something", not "resolution failed".
_NO_PYTHON, _NO_VENV, _NO_TOOL = 97, 96, 98
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

_SCRIPT = f"""
py="$1"; shift
command -v "$py" >/dev/null 2>&1 || {{ echo "no $py in the image" >&2; exit {_NO_PYTHON}; }}
"$py" -m venv {_VENV} >/tmp/venv.log 2>&1 || {{ cat /tmp/venv.log >&2; exit {_NO_VENV}; }}
{_VENV}/bin/python -m pip install --quiet --no-cache-dir $REPRO_TOOL_SOURCE \
    "pip==$REPRO_PIP_VERSION" "pip-tools==$REPRO_PIP_TOOLS_VERSION" || exit {_NO_TOOL}
{_VENV}/bin/python -c 'import importlib.metadata as m; print(m.version("pip-tools"))' \
    >{_OUT}/version
cd {_PROJECT}
exec {_VENV}/bin/python -m piptools compile "$@"
"""


@dataclass(frozen=True)
class Compiled:
    """What one pip-compile run inside the image left behind."""

    returncode: int
    output: str  # stderr then stdout, for failure messages
    tool: str  # "pip-tools 7.6.2 (in python:3.11-bookworm)"


@dataclass(frozen=True)
class ImageResolver:
    """Where and how pip-compile runs when it cannot run on this host."""

    config: Config

    def base(self) -> tuple[BaseChoice, str, str]:
        """Return (the base choice, what to run, how to name it).

        What runs is the pinned builder base (by digest, or by image id when it exists only on
        this engine), else the builder reference itself.
        """
        from reprostack.image.bases import choose_base
        from reprostack.image.pins import PINS_NAME, read_pins
        from reprostack.lock.header import split
        from reprostack.lock.pins import parse_pins

        folder = self.config.root / "lockfiles"
        prod = folder / "prod.txt"
        # cuda: auto follows the prod lock; before there is one, the CPU base has the Python.
        lock_pins = parse_pins(split(prod.read_text("utf-8"))[1]) if prod.is_file() else {}
        pins = read_pins(folder / PINS_NAME)
        facts = {ref: pin.python for ref, pin in pins.items() if pin.probed}
        choice = choose_base(self.config, lock_pins, facts)
        pin = pins.get(choice.builder)
        if pin is not None and pin.digest:
            return choice, pin.from_ref, pin.from_ref
        if pin is not None and pin.image_id:
            return choice, pin.image_id, choice.builder
        return choice, choice.builder, choice.builder

    def compile(
        self,
        request: LockRequest,
        args: list[str],
        out: Path,
        why: str | None,
        index_urls: list[str],
    ) -> Compiled:
        """Run ``pip-compile ARGS --output-file <out>`` in a container of the builder base.

        ``out`` seeds the run (its pins are preferred) and receives the result. ``why`` says
        how the host differs from the target (None: it was asked for), for messages; the
        ``${VAR}`` references in ``index_urls`` are passed from the caller's environment.
        Returns the Compiled run.
        """
        from reprostack.engine import connect

        choice, run_ref, shown = self.base()
        try:
            engine = connect()
        except EnvironmentMissing as exc:
            lead = (
                f"pip-tools resolves for the machine it runs on and {why}, so it runs"
                if why
                else "--in-image runs pip-tools"
            )
            raise EnvironmentMissing(
                f"{lead} inside the base image {shown}, which needs a Docker engine: {exc.message}",
                hint=f"{exc.hint}; or set `lock: {{tool: uv}}` in repro.yaml "
                "(uv resolves for any Python and platform without an engine)",
            ) from exc
        try:
            image = _local_image(engine, run_ref, shown)
            _check_platform(image, shown, self.config.platform)
            with tempfile.TemporaryDirectory(prefix="repro-lock-") as scratch:
                env = _environment() | credential_env(index_urls)
                return self._run(engine, image, shown, choice.python_exe, env, request, args,
                                 out, Path(scratch))  # fmt: skip
        finally:
            engine.close()

    def _run(
        self,
        engine: Engine,
        image: ImageInfo,
        shown: str,
        python_exe: str,
        env: dict[str, str],
        request: LockRequest,
        args: list[str],
        out: Path,
        scratch: Path,
    ) -> Compiled:
        from reprostack.image.context import ca_bundle

        outdir = scratch / "out"
        outdir.mkdir()
        if out.is_file():
            shutil.copyfile(out, outdir / "lock.txt")
        mounts = [
            Mount(str(request.root.resolve()), _PROJECT, read_only=True),
            Mount(str(outdir), _OUT),
        ]
        ca = ca_bundle(self.config)
        if ca is not None:
            (scratch / "ca.pem").write_bytes(ca)
            mounts.append(Mount(str(scratch / "ca.pem"), _CA, read_only=True))
            env.update(PIP_CERT=_CA, SSL_CERT_FILE=_CA, REQUESTS_CA_BUNDLE=_CA)
        wheels = os.environ.get(WHEELS_ENV)
        if wheels:
            mounts.append(Mount(str(Path(wheels).resolve()), _WHEELS, read_only=True))
            env["REPRO_TOOL_SOURCE"] = f"--no-index --find-links {_WHEELS}"
        argv = [*args, "--output-file", f"{_OUT}/lock.txt", "--cache-dir", "/tmp/pip-tools"]
        platform = self.config.platform
        done = engine.run(
            ContainerSpec(
                image=image.id,
                entrypoint=("/bin/sh", "-c"),
                command=(_SCRIPT, "repro-lock", python_exe, *argv),
                mounts=tuple(mounts),
                env=env,
                user=f"{os.getuid()}:{os.getgid()}",
                network=os.environ.get(NETWORK_ENV) or "bridge",
                workdir="/tmp",
                # Says what a leftover container was, should the engine die before removal.
                labels={ROLE_LABEL: "lock"},
                platform=None if platform == engine.platform() else platform,
            )
        )
        code = done.exit_code
        stdout = done.stdout.decode("utf-8", "replace")
        stderr = done.stderr.decode("utf-8", "replace")
        _refuse_missing_tools(code, stderr + stdout, shown, python_exe)
        version_file = outdir / "version"
        version = version_file.read_text("utf-8").strip() if version_file.is_file() else "?"
        if code == 0:
            shutil.copyfile(outdir / "lock.txt", out)
        return Compiled(code, stderr + stdout, f"pip-tools {version} (in {shown})")


def _environment() -> dict[str, str]:
    """Return the container's environment: pip's config ignored, this host's tool versions.

    The host's pip settings are not passed: they may point at folders that exist only here.
    """
    return {
        "HOME": "/tmp",
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "REPRO_PIP_VERSION": importlib.metadata.version("pip"),
        "REPRO_PIP_TOOLS_VERSION": importlib.metadata.version("pip-tools"),
        "REPRO_TOOL_SOURCE": "",
    }


def credential_env(texts: list[str]) -> dict[str, str]:
    """Return the caller's values of the ``${VAR}`` references in ``texts`` that are set."""
    names = {name for text in texts for name in _REFERENCE.findall(text)}
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def _local_image(engine: Engine, ref: str, shown: str) -> ImageInfo:
    image = engine.image(ref)
    if image is not None:
        return image
    raise EnvironmentMissing(
        f"pip-tools resolves inside the base image {shown}, which is not on this engine "
        "(repro never pulls implicitly)",
        hint=f"run `docker pull {shown}`, or set `lock: {{tool: uv}}` in repro.yaml",
    )


def _check_platform(image: ImageInfo, shown: str, platform: str) -> None:
    """Refuse a base whose local copy is for another platform than the target."""
    found = image.platform
    if found is not None and found != platform:
        raise EnvironmentMissing(
            f"the base image {shown} on this engine is {found}, the target is {platform}",
            hint=f"run `docker pull --platform {platform} {shown}`, or set "
            "`lock: {tool: uv}` in repro.yaml",
        )


def _refuse_missing_tools(code: int, output: str, shown: str, python_exe: str) -> None:
    """Turn the script's own exit codes into errors that say what the image lacks."""
    tail = "\n".join(output.strip().splitlines()[-15:])
    if code == _NO_PYTHON:
        raise EnvironmentMissing(
            f"the base image {shown} has no {python_exe}, so pip-tools cannot resolve for "
            "that Python inside it",
            hint="set base_image: to an image with that Python, or set `lock: {tool: uv}` in "
            "repro.yaml (uv resolves for any Python without running it)",
        )
    if code == _NO_VENV:
        raise EnvironmentMissing(
            f"{python_exe} in the base image {shown} cannot create a venv:\n{tail}",
            hint="use a base with the venv module (Debian: python3-venv), or `lock: {tool: uv}`",
        )
    if code == _NO_TOOL:
        raise EnvironmentMissing(
            f"installing pip-tools inside the base image {shown} failed:\n{tail}",
            hint="behind a TLS-intercepting proxy set build.host_ca_bundle: true or "
            f"build.ca_certificates; offline, set {WHEELS_ENV} to a folder of pip and "
            "pip-tools wheels",
        )
    if code != 0 and not output:
        raise ReproError(f"pip-compile inside {shown} exited with {code} and said nothing")
