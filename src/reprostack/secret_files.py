"""Which files hold secrets, so that no copy of them enters a record or an export.

One judge for ``config/`` copies and ``source.patch``: a file is left out for its name (``.env``,
keys, credential stores) or for what it holds (a private key, a password, a token, a credential
URL, or any well-known token format, which ``redact.secret_shape`` recognises for every place a
value travels). Only its path and sha256 are recorded.
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath

from reprostack.redact import secret_shape

# Names that hold credentials whatever their content (checked against the last path part).
# Plain string tests, not globs: this runs for every changed file at every run's start.
_SECRET_NAMES = frozenset(
    {
        *(".env", ".netrc", "_netrc", ".pgpass", ".pypirc", ".npmrc", ".git-credentials"),
        *("credentials", "credentials.json", "aws.ini"),
        *("secrets.yaml", "secrets.yml", "secrets.json", "secrets.toml"),
    }
)
_SECRET_PREFIXES = (".env.", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_SECRET_SUFFIXES = (
    *(".env", ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".secret", ".secrets"),
)
_SECRET_JSON_WORDS = ("credentials", "service-account", "service_account")
_SECRET_PAIRS = ((".docker", "config.json"), (".aws", "credentials"), (".aws", "config"))

# What gives a file away as a key whatever its kind. Patterns are compiled on first use (see
# _compiled): most runs judge no file at all, and compiling costs milliseconds at every start.
_KEY_MARKERS = (
    (rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", "holds a private key"),
    (rb'"type"\s*:\s*"service_account"', "holds a service-account key"),
    (rb'"private_key"\s*:', "holds a private key"),
    (rb'"auths?"\s*:\s*[{"]', "holds registry credentials"),
    (rb"(?i)aws_secret_access_key\s*[=:]", "holds an AWS secret key"),
)
# What gives a settings file away. Code is not judged by these: `api_key = os.environ[...]` in
# a script is no secret, and leaving code out of the patch would break replay.
_SETTINGS_MARKERS = (
    # `password: x`, `api_key = "x"`, `"token": "x"`, `DB_PASSWORD=x`: a secret-named key with
    # a value on the same line (a bare `password:` announcing a nested block is no secret).
    (
        rb"""(?i)(?<![\w.-])["']?[\w.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|apikey|"""
        rb"""access[_-]?key|private[_-]?key|credentials?|auth)["']?[ \t]*[:=][ \t]*"""
        rb"""["']?[^\s"'#{}\[\]&*|>]""",
        "holds a password or token",
    ),
    (rb"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]+:[^/\s]+@", "holds a credential URL"),
)


def secret_name(path: str) -> bool:
    """Whether a file's name alone says it holds credentials (``.env``, ``*.pem``, ...)."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    name = parts[-1].lower()
    if (
        name in _SECRET_NAMES
        or name.startswith(_SECRET_PREFIXES)
        or name.endswith(_SECRET_SUFFIXES)
    ):
        return True
    if name.endswith(".json") and any(word in name for word in _SECRET_JSON_WORDS):
        return True
    return len(parts) >= 2 and (parts[-2].lower(), name) in _SECRET_PAIRS


SETTINGS_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".properties")


def secret_content(data: bytes, settings: bool) -> str | None:
    """Why ``data`` must not be copied (``holds a private key``, ...), or None.

    ``settings``: judge it as a settings file too (a ``password:`` line, a credential URL).
    """
    for marker, reason in _compiled(settings):
        if marker.search(data):
            return reason
    # A token's shape gives it away in code too: a real key in a script is still a key.
    shape = secret_shape(data.decode("latin-1"))
    return f"holds {shape}" if shape is not None else None


@functools.cache
def _compiled(settings: bool) -> tuple[tuple[re.Pattern[bytes], str], ...]:
    markers = _KEY_MARKERS + _SETTINGS_MARKERS if settings else _KEY_MARKERS
    return tuple((re.compile(pattern), reason) for pattern, reason in markers)


def refusal(path: str, data: bytes | None, *, settings: bool | None = None) -> str | None:
    """Why the file at ``path`` with bytes ``data`` must not be copied, or None when it may.

    ``settings`` defaults to whether the name ends like a settings file (``.yaml``, ...).
    """
    if secret_name(path):
        return "secret-bearing file name"
    if data is None:
        return None
    if settings is None:
        settings = path.lower().endswith(SETTINGS_SUFFIXES)
    return secret_content(data, settings)
