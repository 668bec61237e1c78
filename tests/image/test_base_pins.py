"""Bases are pinned when the lock is made, so a build leaves the tree as it found it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pkgindex import LocalIndex, local_index, project, tool_caches, write_project
from reprostack.bases.pins import PINS_NAME, read_pins
from reprostack.bases.resolve import pinned_message, resolve_bases
from reprostack.cli import cli
from reprostack.config import load_config

__all__ = ["local_index", "project", "tool_caches"]  # fixtures, imported so pytest finds them

pytestmark = pytest.mark.engine


def test_lock_pins_the_bases_and_says_so(
    project: Path, local_index: LocalIndex, docker_engine: Any, base_image_ref: str
) -> None:
    write_project(project, tool="uv", prod=f"--index-url {local_index.url}\nbeta\n")
    with (project / "repro.yaml").open("a") as config_file:
        config_file.write(f"base_image: {base_image_ref}\n")
    pins_file = project / "lockfiles" / PINS_NAME

    result = CliRunner().invoke(cli, ["lock"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert f"pinned base {base_image_ref}" in result.stderr
    assert f"wrote lockfiles/{PINS_NAME}: commit it with the locks" in result.stderr
    assert base_image_ref in read_pins(pins_file)
    written = pins_file.read_bytes()

    # What a build resolves next finds everything pinned: nothing to write, nothing to say.
    config = load_config(project)
    resolved = resolve_bases(config, engine=docker_engine)
    assert resolved.pinned_now == () and pinned_message(resolved) == []
    assert pins_file.read_bytes() == written
    again = CliRunner().invoke(cli, ["lock"], catch_exceptions=False)
    assert "pinned base" not in again.stderr


def test_a_build_that_must_pin_says_so(
    tmp_path: Path, docker_engine: Any, base_image_ref: str
) -> None:
    """Without `repro lock`'s pins, the build's resolution writes them, and says so."""
    (tmp_path / "repro.yaml").write_text(
        f'name: demo\npython: "3.11"\nbase_image: {base_image_ref}\n'
    )
    config = load_config(tmp_path)
    resolved = resolve_bases(config, engine=docker_engine)
    assert resolved.pinned_now == (base_image_ref,)
    assert pinned_message(resolved)[0].startswith(f"pinned base {base_image_ref}")
    assert (tmp_path / "lockfiles" / PINS_NAME).is_file()
