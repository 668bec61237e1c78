"""uv is the lock tool of a project whose inputs imply no other; a locked project keeps its."""

from __future__ import annotations

from pathlib import Path

from reprostack.lock.detect import detect_tool


def test_detection_defaults_to_uv_and_keeps_the_tool_of_an_existing_lock(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("alpha\n")
    assert detect_tool(tmp_path, ()) == "uv"
    assert detect_tool(tmp_path, ("requirements.txt",)) == "uv"
    (tmp_path / "lockfiles").mkdir()
    (tmp_path / "lockfiles/prod.txt").write_text(
        "# Written by `repro lock`; do not edit by hand (`repro lock --check` notices).\n"
        "# repro-lock: 1\n# variant: prod\n# tool: pip-tools 7.5.0\n# python: 3.11\n"
        "# platform: linux/amd64\n# inputs-sha256: x\n# body-sha256: y\n\nalpha==1.0\n"
    )
    # A project locked with pip-tools before uv became the default keeps pip-tools.
    assert detect_tool(tmp_path, ()) == "pip-tools"
