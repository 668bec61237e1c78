"""The CLI as a whole: every command has help, --help is lazy, errors have no traceback."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from reprostack.cli import COMMANDS, cli


def test_every_command_has_help_text() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, name
        assert "Usage: " in result.output and len(result.output) > 80, name


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    for name in COMMANDS:
        assert f"  {name} " in result.output, name


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from reprostack.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('docker', 'jinja2', 'yaml', 'reprostack.fingerprint.collect') "
        "if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip() == "[]"


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
