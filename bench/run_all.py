"""Run every benchmark in this folder (``*_bench.py``) and print their ratios.

python bench/run_all.py            # all of them
python bench/run_all.py cli lock   # some of them, by name
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = set(sys.argv[1:])
    failures = 0
    for script in sorted(HERE.glob("*_bench.py")):
        name = script.stem.removesuffix("_bench")
        if wanted and name not in wanted:
            continue
        print(f"\n## {name}", flush=True)
        failures += (
            subprocess.run([sys.executable, str(script)], cwd=HERE, check=False).returncode != 0
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
