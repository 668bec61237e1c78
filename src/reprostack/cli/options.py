"""Option types that more than one command shares."""

from __future__ import annotations

import click

# A seed becomes PYTHONHASHSEED, which Python accepts only in 0..2**32-1 (an interpreter
# given another value dies before the script's first line), and NumPy's legacy seeding has
# the same range: anything else is bad usage, refused before a run folder exists.
SEED_MAX = 2**32 - 1
SEED = click.IntRange(0, SEED_MAX)
