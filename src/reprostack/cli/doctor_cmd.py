"""``repro doctor``: engine, locks, and the host driver against the image's CUDA."""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Check the engine, the locks and the driver/CUDA/GPU stack; print a fix for each problem.

    Exits 1 when any check finds an error.
    """
    from reprostack.config import load_config
    from reprostack.doctor.checks import render_findings, run_checks

    config = load_config()
    findings = run_checks(config)
    click.echo(render_findings(findings))
    if any(f.level == "error" for f in findings):
        sys.exit(1)
