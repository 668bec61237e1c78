"""``python -m reprostack`` is ``repro``."""

from reprostack.cli import main

main()
