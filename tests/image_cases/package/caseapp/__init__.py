"""The case project's own package (installed into prod with --no-deps)."""

MESSAGE = "version 1"
