"""Before resolving: can every remote index the inputs name be reached?

pip-compile runs pip quietly, and quiet pip skips an index it cannot reach with no word
said: the lock then fails with "no matching distribution" (or, worse, succeeds from the other
indexes). Asking each index once first names the one that is down, and where it was written.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from reprostack.errors import EnvironmentMissing
from reprostack.lock.indexes import IndexOption
from reprostack.redact import redact_url

TIMEOUT_S = 15


def ensure_reachable(urls: list[str], options: list[IndexOption], what: str) -> None:
    """Raise EnvironmentMissing (exit 3) naming each remote index in ``urls`` that no answer
    comes from, and the input line that names it. Any HTTP answer (404 included) counts."""
    remote = [url for url in dict.fromkeys(urls) if urlsplit(url).scheme in ("http", "https")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        reasons = dict(zip(remote, pool.map(_problem, remote), strict=True))
    down = [(url, reason) for url, reason in reasons.items() if reason]
    if not down:
        return
    where = {o.value: o.where for o in options}
    lines = [
        f"{redact_url(url)}" + (f" ({where[url]})" if url in where else "") + f": {reason}"
        for url, reason in down
    ]
    reachable = [redact_url(url) for url, reason in reasons.items() if not reason]
    raise EnvironmentMissing(
        f"cannot resolve {what}: {'this package index' if len(down) == 1 else 'these indexes'}"
        " cannot be reached:\n"
        + "\n".join(lines)
        + (f"\nreachable: {', '.join(reachable)}" if reachable else ""),
        hint="check the URL, your network and proxy (build.ca_certificates for a "
        "TLS-intercepting one), or remove the index from the inputs; then run `repro lock`",
    )


def _problem(url: str) -> str:
    """Return why ``url`` cannot be reached, or "" when it answers."""
    parts = urlsplit(os.path.expandvars(url))
    # Credentials are not needed to see that a server answers (a 401 is an answer).
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    request = urllib.request.Request(bare, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S):
            return ""
    except urllib.error.HTTPError:
        return ""  # it answered
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__
