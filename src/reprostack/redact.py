"""Keep secrets out of every record: environment values and URLs with credentials."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

# A name containing any of these words holds a secret (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY,
# DB_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS, ...).
_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
_SECRET_NAME_RE = re.compile("|".join(_SECRET_WORDS), re.IGNORECASE)
# scheme://user:pass@host or scheme://token@host, anywhere inside a longer value.
# ASCII whitespace ends a URL; any other character (U+2028 included) may be in a password.
_URL_USERINFO_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@", re.ASCII
)
_ENV_REF_RE = re.compile(r"^(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|:)+$")


def is_secret_name(name: str) -> bool:
    """Return whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_NAME_RE.search(name))


def redact_url(url: str) -> str:
    """Return ``url`` without credentials: userinfo and secret-looking query values.

    ``${ENV_VAR}`` references are kept: they name a secret without holding it.
    """

    def _userinfo(match: re.Match[str]) -> str:
        userinfo = match.group("userinfo")
        if _ENV_REF_RE.match(userinfo):
            return match.group(0)
        return match.group("scheme")

    text = _URL_USERINFO_RE.sub(_userinfo, url)
    parts = urlsplit(text)
    if not parts.query:
        return text
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(is_secret_name(key) or key.lower() in ("sig", "signature") for key, _ in pairs):
        return text
    clean = [
        (key, REDACTED if is_secret_name(key) or key.lower() in ("sig", "signature") else value)
        for key, value in pairs
    ]
    return urlunsplit(parts._replace(query=urlencode(clean, safe="<>")))


def redact_value(name: str, value: str) -> str:
    """Return the value to record for environment variable ``name``."""
    if is_secret_name(name):
        return REDACTED
    return redact_url(value)


def redact_argv(argv: list[str]) -> list[str]:
    """Return ``argv`` with URL credentials and ``--token=...``-style values removed."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("--") and is_secret_name(arg.split("=", 1)[0]):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_url(arg))
    return out
