"""A dev lock that cannot keep the prod lock's versions names both pins and the ways out."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_lock_resolve import BACKENDS, repro

from pkgindex import LocalIndex, local_index, tool_caches, write_project

__all__ = ["local_index", "tool_caches"]  # fixtures, imported so pytest finds them


@pytest.mark.parametrize("tool", BACKENDS)
def test_a_dev_pin_against_prod_names_both_pins_and_the_way_out(
    tool: str, project: Path, local_index: LocalIndex
) -> None:
    # prod resolves alpha 2.0.0; dev pins alpha==1.0.0 and is compiled with -c prod.txt.
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\nalpha\n",
                  dev="alpha==1.0.0\n")  # fmt: skip
    result = repro("lock")
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        "repro: error: lockfiles/dev.txt conflicts with the prod lock lockfiles/prod.txt:",
        "  requirements-dev.in asks for alpha==1.0.0; lockfiles/prod.txt pins alpha==2.0.0",
        "hint: lockfiles/dev.txt keeps every version of lockfiles/prod.txt: loosen the dev pin "
        "(alpha==1.0.0 in requirements-dev.in), or add alpha==1.0.0 to the prod inputs so that "
        "prod resolves it too; then run `repro lock`",
    ]
    assert not (project / "lockfiles/dev.txt").exists()


@pytest.mark.parametrize("tool", BACKENDS)
def test_a_dev_dependency_needing_another_prod_version_names_the_prod_pin(
    tool: str, project: Path, local_index: LocalIndex
) -> None:
    # beta needs alpha<2; prod pins alpha 2.0.0.
    write_project(project, tool=tool, prod=f"--index-url {local_index.url}\nalpha\n",
                  dev="beta\n")  # fmt: skip
    result = repro("lock")
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "repro: error: lockfiles/dev.txt conflicts with the prod lock lockfiles/prod.txt, which "
        "pins alpha==2.0.0:"
    )
    assert any("beta" in line and "alpha<2" in line for line in lines[1:])
    assert lines[-1].startswith("hint: lockfiles/dev.txt keeps every version of "
                                "lockfiles/prod.txt: loosen the dev requirement")  # fmt: skip
