"""A failed build names the step that failed, with that step's own last lines, and a fix."""

from __future__ import annotations

from reprostack.image.build import _failure_hint
from reprostack.image.progress import BuildLog

# BuildKit's plain progress with two stages running at once: builder's pip fails while
# deps' useradd is still printing.
INTERLEAVED = """\
#5 [builder 3/4] COPY prod/ /tmp/repro-lock/
#5 DONE 0.1s
#6 [deps 2/4] RUN useradd --system repro
#7 [builder 4/4] RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r x.txt
#6 0.311 useradd: warning: the home directory already exists.
#7 1.204 Collecting alpha==1.0.0
#6 0.402 Not copying any file from skel directory into it.
#7 2.518 ERROR: Could not find a version that satisfies the requirement alpha==1.0.0
#7 2.519 ERROR: No matching distribution found for alpha==1.0.0
#6 DONE 0.5s
#7 ERROR: process "/bin/sh -c /opt/venv/bin/pip install" did not complete successfully: exit code: 1
#8 [deps 3/4] COPY --from=builder /opt/venv /opt/venv
------
 > [builder 4/4] RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r x.txt:
------
ERROR: failed to solve: process "/bin/sh -c pip install" did not complete successfully: exit code: 1
"""


def test_the_failed_step_and_only_its_lines_are_kept() -> None:
    log = BuildLog()
    for line in INTERLEAVED.splitlines():
        log.buildkit(line)
    assert log.failed.startswith("[builder 4/4] RUN /opt/venv/bin/pip install")
    assert log.current == log.failed
    assert list(log.tail) == [
        "Collecting alpha==1.0.0",
        "ERROR: Could not find a version that satisfies the requirement alpha==1.0.0",
        "ERROR: No matching distribution found for alpha==1.0.0",
    ]
    assert log.summary[-1].startswith("ERROR: failed to solve: process")


def test_a_tls_failure_points_at_build_ca_certificates() -> None:
    hint = _failure_hint(["WARNING: Retrying ... [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                          "verify failed: unable to get local issuer certificate"])  # fmt: skip
    assert "`build.ca_certificates:`" in hint and "host_ca_bundle: true" in hint
    assert _failure_hint(["ERROR: No matching distribution"]).startswith("fix what the output")
