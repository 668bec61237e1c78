"""The moment a lock resolves "as of": ``lock.exclude_newer`` and ``repro lock --as-of``.

A date means midnight UTC at its start, never the local midnight of whoever re-locks: the
same header must give the same pins on every machine. A moment in the future is refused, as
the index would still change under it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from reprostack.errors import UsageError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HINT = "write a date such as 2025-06-01 (midnight UTC) or a time such as 2025-06-01T12:00:00Z"


def parse_as_of(text: str, now: datetime | None = None) -> str:
    """Return ``text`` normalised: ``2025-06-01`` or ``2025-06-01T12:00:00Z`` (UTC).

    Raises UsageError for anything else, a time without a zone, or a moment after ``now``.
    """
    value = text.strip()
    try:
        if _DATE.match(value):
            moment = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
            normalised = value
        else:
            # Python 3.10's fromisoformat does not read a trailing Z.
            moment = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
            if moment.tzinfo is None:
                raise UsageError(
                    f"'{text}' has no time zone, so it names a different moment on each machine",
                    hint="add Z (UTC) or an offset such as +02:00, or give just the date",
                )
            moment = moment.astimezone(timezone.utc)
            normalised = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise UsageError(f"'{text}' is not a date", hint=_HINT) from exc
    if moment > (now or datetime.now(timezone.utc)):
        raise UsageError(
            f"'{text}' is in the future: the index would still change under a lock as of then",
            hint="give a date in the past (or today)",
        )
    return normalised


def as_timestamp(value: str) -> str:
    """Return the RFC 3339 form resolvers take: ``2025-06-01`` -> ``2025-06-01T00:00:00Z``."""
    return f"{value}T00:00:00Z" if _DATE.match(value) else value
