"""Where the tests' own files are: one place, so a test file may live in any folder below."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent  # fixtures, golden files, fake binaries, helpers
ROOT = TESTS.parent  # the repository
