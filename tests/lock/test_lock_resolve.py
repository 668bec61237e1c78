"""`repro lock` against a real package index on loopback, with uv and pip-tools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pkgindex import LocalIndex, local_index, tool_caches, write_project
from reprostack.cli import cli
from reprostack.cli.output import handle_errors
from reprostack.errors import CheckFailed
from reprostack.lock import ensure_lock_matches, read_lock_header
from reprostack.lock.header import split
from reprostack.lock.pins import drift
from reprostack.locktext import parse_pins

__all__ = ["local_index", "tool_caches"]  # fixtures, imported so pytest finds them

BACKENDS = ["uv", "pip-tools"]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def _repro(ctx: click.Context) -> None:
    with handle_errors():
        cli.main(args=list(ctx.args), prog_name="repro", standalone_mode=False)


def repro(*args: str) -> Result:
    """Run `repro ARGS` in-process the way the entry point does (errors -> exit codes)."""
    return CliRunner().invoke(_repro, list(args), catch_exceptions=False)


def pins(path: Path) -> dict[str, str]:
    return parse_pins(split(path.read_text())[1])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("tool", BACKENDS)
def test_lock_writes_hashed_prod_and_dev(tool: str, project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\ngamma[fast]\n",
                  dev="devtool\n")  # fmt: skip
    result = repro("lock")
    assert result.exit_code == 0, result.output
    prod, dev = project / "lockfiles/prod.txt", project / "lockfiles/dev.txt"
    header = read_lock_header(prod)
    assert result.stderr == (
        f"lockfiles/prod.txt: 4 packages resolved with {header.tool} for Python 3.11 on "
        "linux/amd64\n"
        f"lockfiles/dev.txt: 5 packages resolved with {header.tool} for Python 3.11 on "
        "linux/amd64\n"
    )
    assert header.tool_name == tool and (header.python, header.platform) == ("3.11", "linux/amd64")
    assert header.index_urls == (local_index.url,)
    # The extra pulls delta in; the win32 and Python<3.9 markers keep epsilon and zeta out.
    assert pins(prod) == {"alpha": "1.1.0", "beta": "1.0.0", "delta": "1.0.0", "gamma": "0.5.0"}
    assert pins(dev) == {**pins(prod), "devtool": "3.0.0"}
    body = split(prod.read_text())[1]
    assert body.startswith(f"--index-url {local_index.url}\n\n")
    assert body.count("--hash=sha256:") == 4
    before = (prod.read_bytes(), dev.read_bytes())

    again = repro("lock")
    assert again.exit_code == 0
    assert again.stderr == "lockfiles/prod.txt is up to date\nlockfiles/dev.txt is up to date\n"
    assert (prod.read_bytes(), dev.read_bytes()) == before
    assert repro("lock", "--check").exit_code == 0


def test_lock_installs_with_require_hashes(
    project: Path, local_index: LocalIndex, tmp_path: Path
) -> None:
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\ngamma[fast]\n",
                  dev="devtool\n")  # fmt: skip
    assert repro("lock").exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes",
         "--disable-pip-version-check", "--target", str(tmp_path / "site"),
         "-r", "lockfiles/dev.txt"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    installed = sorted(p.name for p in (tmp_path / "site").glob("*.dist-info"))
    assert installed == ["alpha-1.1.0.dist-info", "beta-1.0.0.dist-info", "delta-1.0.0.dist-info",
                         "devtool-3.0.0.dist-info", "gamma-0.5.0.dist-info"]  # fmt: skip


def test_check_names_what_is_stale_and_writes_nothing(
    project: Path, local_index: LocalIndex
) -> None:
    write_project(
        project, tool="uv", prod=f"--index-url {local_index.url}\nbeta\n", dev="devtool\n"
    )
    assert repro("lock").exit_code == 0
    prod, dev = project / "lockfiles/prod.txt", project / "lockfiles/dev.txt"
    before = (prod.read_bytes(), dev.read_bytes())

    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nbeta\ndelta\n")
    result = repro("lock", "--check")
    assert result.exit_code == 1
    assert result.stderr == (
        "lockfiles/prod.txt is stale: requirements.in changed\n"
        "lockfiles/dev.txt is stale: requirements.in changed\n"
        "repro: error: 2 locks are stale\n"
        "hint: run `repro lock` to update them\n"
    )
    assert (prod.read_bytes(), dev.read_bytes()) == before

    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nbeta\n")
    (project / "repro.yaml").write_text('name: demo\npython: "3.12"\nlock: {tool: uv}\n')
    result = repro("lock", "--check", "--prod")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "lockfiles/prod.txt is stale: python changed in repro.yaml: 3.11 -> 3.12"
    )
    from reprostack.config import load_config

    with pytest.raises(CheckFailed) as info:
        ensure_lock_matches(load_config(project, required=True), prod)
    assert info.value.message == (
        "lockfiles/prod.txt was resolved for Python 3.11, repro.yaml asks for 3.12"
    )

    (project / "repro.yaml").write_text('name: demo\npython: "3.11"\nlock: {tool: uv}\n')
    prod.write_text(prod.read_text().replace("beta==1.0.0", "beta==1.0.1"))
    result = repro("lock", "--check", "--prod")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "lockfiles/prod.txt is stale: lockfiles/prod.txt was edited by hand"
    )
    assert repro("lock", "--prod").exit_code == 0
    assert pins(prod)["beta"] == "1.0.0"


def test_dev_keeps_every_prod_version(project: Path, local_index: LocalIndex) -> None:
    # Alone, devtool (alpha>=1.0) would take alpha 2.0.0; compiled against prod it must not.
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\nalpha<1.1\n",
                  dev="devtool\n")  # fmt: skip
    assert repro("lock").exit_code == 0
    prod, dev = pins(project / "lockfiles/prod.txt"), pins(project / "lockfiles/dev.txt")
    assert prod == {"alpha": "1.0.0"}
    assert drift(prod, dev) == [] and dev["devtool"] == "3.0.0"

    (project / "requirements-dev.in").write_text("alpha>=2\n")
    result = repro("lock", "--dev")
    assert result.exit_code == 2
    # The conflict is with the prod lock, and both pins are named.
    assert result.stderr.startswith(
        "repro: error: lockfiles/dev.txt conflicts with the prod lock lockfiles/prod.txt:\n"
        "  requirements-dev.in asks for alpha>=2; lockfiles/prod.txt pins alpha==1.0.0\n"
    )
    assert "alpha" in result.stderr


@pytest.mark.parametrize("tool", BACKENDS)
def test_conflict_names_requirements_and_keeps_the_old_lock(
    tool: str, project: Path, local_index: LocalIndex
) -> None:
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\nbeta\n")
    assert repro("lock").exit_code == 0
    prod = project / "lockfiles/prod.txt"
    before = prod.read_bytes()
    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nbeta\nconflict-a\n")
    result = repro("lock")
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    shown = "uv" if tool == "uv" else "pip-compile"
    assert first == (
        f"repro: error: {shown} found no set of versions that satisfies the inputs of "
        "lockfiles/prod.txt:"
    )
    assert "conflict-a" in result.stderr and "alpha" in result.stderr
    assert "Traceback" not in result.output
    assert prod.read_bytes() == before
    assert sorted(p.name for p in prod.parent.iterdir()) == ["prod.txt"]


@pytest.mark.parametrize("tool", BACKENDS)
def test_missing_package_is_named(tool: str, project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\nnosuchpkg\n")
    result = repro("lock")
    assert result.exit_code == 2
    shown = "uv" if tool == "uv" else "pip-compile"
    assert result.stderr.splitlines()[0] == (
        f"repro: error: {shown} found no package named 'nosuchpkg' on the index while resolving "
        "lockfiles/prod.txt"
    )
    assert not (project / "lockfiles/prod.txt").exists()


@pytest.mark.parametrize("tool", BACKENDS)
def test_unreachable_index_names_the_url(tool: str, project: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/simple"
    write_project(project, tool=tool, prod=f"--index-url {url}\nbeta\n")
    result = repro("lock", "--prod")
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[:2] == [
        "repro: error: cannot resolve lockfiles/prod.txt: this package index cannot be reached:",
        f"  {url} (requirements.in:1): [Errno 111] Connection refused",
    ]


def test_upgrade_moves_pins_only_when_asked(project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\nalpha<1.1\n")
    assert repro("lock").exit_code == 0
    prod = project / "lockfiles/prod.txt"
    # A loosened input re-resolves, preferring the pin already in the lock.
    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nalpha\n")
    assert repro("lock").exit_code == 0
    assert pins(prod) == {"alpha": "1.0.0"}
    assert repro("lock").stderr.startswith("lockfiles/prod.txt is up to date\n")
    result = repro("lock", "--upgrade-package", "alpha")
    assert result.exit_code == 0
    assert pins(prod) == {"alpha": "2.0.0"}
    assert repro("lock", "--check", "--upgrade").exit_code == 2


def test_no_dev_inputs_is_said_not_failed(project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\nalpha\n")
    result = repro("lock")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[1] == "lockfiles/dev.txt: no dev inputs, nothing to lock"
    assert not (project / "lockfiles/dev.txt").exists()


def test_dev_alone_needs_the_prod_lock(project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\nalpha\n", dev="beta\n")
    result = repro("lock", "--dev")
    assert result.exit_code == 2
    assert result.stderr == (
        "repro: error: lockfiles/dev.txt is compiled against lockfiles/prod.txt, which does not "
        "exist\nhint: run `repro lock` (both locks) or `repro lock --prod` first\n"
    )


@pytest.mark.parametrize(
    ("python", "platform", "expected"),
    [
        ("3.11", "linux/amd64", {"linuxonly": "1.0.0"}),
        ("3.12", "linux/arm64", {"linuxonly": "1.0.0", "delta": "1.0.0"}),
    ],
)
def test_uv_resolves_for_the_image_not_the_host(
    python: str, platform: str, expected: dict[str, str], project: Path, local_index: LocalIndex
) -> None:
    write_project(project, tool="uv", python=python, platform=platform,
                  prod=f"--index-url {local_index.url}\nlinuxonly\n")  # fmt: skip
    assert repro("lock").exit_code == 0
    assert pins(project / "lockfiles/prod.txt") == expected
    header = read_lock_header(project / "lockfiles/prod.txt")
    assert (header.python, header.platform) == (python, platform)


def test_uv_resolves_markers_for_an_older_python(project: Path, local_index: LocalIndex) -> None:
    write_project(project, tool="uv", python="3.8", prod=f"--index-url {local_index.url}\ngamma\n")
    assert repro("lock").exit_code == 0
    assert "zeta" in pins(project / "lockfiles/prod.txt")


def test_index_credentials_stay_references(
    project: Path, local_index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDX_USER", "alice")
    monkeypatch.setenv("IDX_TOKEN", "s3cret-value")
    url = local_index.url.replace("http://", "http://${IDX_USER}:${IDX_TOKEN}@")
    write_project(project, tool="uv", prod=f"--index-url {url}\nalpha\n")
    result = repro("lock")
    assert result.exit_code == 0, result.output
    text = (project / "lockfiles/prod.txt").read_text()
    assert f"--index-url {url}\n" in text and f"# index: {url}\n" in text
    assert "s3cret" not in text and "alice" not in text


def test_literal_credentials_are_refused(project: Path, local_index: LocalIndex) -> None:
    url = local_index.url.replace("http://", "http://alice:s3cret@")
    write_project(project, tool="uv", prod=f"alpha\n--extra-index-url {url}\n")
    result = repro("lock")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "repro: error: requirements.in:2: --extra-index-url holds a literal credential"
    )
    assert "s3cret" not in result.output


def test_find_links_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_project(project, tool="uv", prod=f"--find-links {elsewhere}\nalpha\n")
    result = repro("lock")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"repro: error: requirements.in:1: --find-links {elsewhere} is outside the project "
        f"({project})"
    )
    write_project(project, tool="uv", prod=f"-f file://{elsewhere}\nalpha\n")
    assert repro("lock").exit_code == 2


def test_project_wheelhouse_is_carried_relative_to_the_lock(
    project: Path, local_index: LocalIndex
) -> None:
    wheels = project / "wheels"
    wheels.mkdir()
    from pkgindex import Dist, build_wheel

    build_wheel(Dist("localpkg", "0.1.0", requires=("alpha",)), wheels)
    inputs = f"--index-url {local_index.url}\n--find-links ./wheels\nlocalpkg\n"
    write_project(project, tool="uv", prod=inputs)
    result = repro("lock")
    assert result.exit_code == 0, result.output
    body = split((project / "lockfiles/prod.txt").read_text())[1]
    assert body.startswith(f"--index-url {local_index.url}\n--find-links ../wheels\n\n")
    assert pins(project / "lockfiles/prod.txt") == {"alpha": "2.0.0", "localpkg": "0.1.0"}


def _lock_files(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "lockfiles").iterdir())}


@pytest.mark.parametrize("tool", BACKENDS)
def test_a_failed_lock_leaves_every_lock_as_it_was(
    tool: str, project: Path, local_index: LocalIndex
) -> None:
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\nbeta\n",
                  dev="devtool\n")  # fmt: skip
    assert repro("lock").exit_code == 0
    before = _lock_files(project)
    assert sorted(before) == ["dev.txt", "prod.txt"]
    # prod's inputs change (it alone would resolve), dev's cannot be resolved at all.
    (project / "requirements.in").write_text(f"--index-url {local_index.url}\nbeta\ngamma\n")
    (project / "requirements-dev.in").write_text("devtool\nnosuchpkg\n")
    result = repro("lock")
    assert result.exit_code == 2, result.output
    assert "nosuchpkg" in result.stderr and "lockfiles/dev.txt" in result.stderr
    assert _lock_files(project) == before  # prod.txt untouched, no temporary file left
    # Once dev resolves, both are written, dev against the new prod (named as the lock).
    (project / "requirements-dev.in").write_text("devtool\n")
    assert repro("lock").exit_code == 0
    assert "gamma" in pins(project / "lockfiles/prod.txt")
    assert drift(pins(project / "lockfiles/prod.txt"), pins(project / "lockfiles/dev.txt")) == []
    assert ".tmp" not in (project / "lockfiles/dev.txt").read_text()
    assert repro("lock", "--check").exit_code == 0
    assert sorted(_lock_files(project)) == ["dev.txt", "prod.txt"]


def test_a_failed_as_of_lock_leaves_every_lock_as_it_was(
    project: Path, local_index: LocalIndex
) -> None:
    # prod lists no package, so it resolves as of any date; devtool did not exist in 1900.
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\n", dev="devtool\n")
    assert repro("lock").exit_code == 0
    before = _lock_files(project)
    result = repro("lock", "--as-of", "1900-01-01")
    assert result.exit_code == 2, result.output
    assert _lock_files(project) == before
