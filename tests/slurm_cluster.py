"""The real single-node Slurm cluster of ``ci/slurm.sh`` for tests that submit jobs.

Tests using ``slurm`` skip loudly when no cluster answers; with ``REPRO_REQUIRE_SLURM=1``
(``ci/test.sh`` under CI=true) they fail instead, so CI never passes by skipping them.
Start one by hand with ``eval "$(ci/slurm.sh start)"``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_TAG = "[slurm unavailable]"


@pytest.fixture(scope="session")
def slurm() -> str:
    """``SLURM_CONF`` of the running test cluster (also set in the environment)."""
    done = subprocess.run(
        ["bash", str(ROOT / "ci" / "slurm.sh"), "env"], capture_output=True, text=True, check=False
    )
    conf = done.stdout.strip().removeprefix("export SLURM_CONF=")
    if done.returncode != 0 or not conf:
        reason = f"no Slurm cluster answers ({done.stderr.strip()})"
        if os.environ.get("REPRO_REQUIRE_SLURM") == "1":
            pytest.fail(f"REPRO_REQUIRE_SLURM=1 but {reason}", pytrace=False)
        pytest.skip(f'{SKIP_TAG} {reason}; start one with: eval "$(ci/slurm.sh start)"')
    os.environ["SLURM_CONF"] = conf
    return conf
