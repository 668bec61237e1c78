"""Keep secrets out of every record: environment values, URLs with credentials, arguments.

Arguments are redacted in every form people write them: ``--token X``, ``--api-key=X``,
Hydra's ``db.password=X``, ``NAME=X`` before a command, ``-H 'Authorization: Bearer X'``,
URL userinfo (a password may hold ``@``), signed-URL parameters and fragments.

Secrets are known by name *and by shape*: a well-known token format (GitHub, GitLab, OpenAI,
Hugging Face, AWS access keys, Slack tokens and webhooks, Stripe, JWTs, PEM private keys) is a
secret whatever its key is called. This module is the one rule: ``secret_files`` (what is not
copied), params, environment values and argv all ask it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reprostack.locktext import ONLY_ENV_REFERENCES

REDACTED = "<redacted>"

# A name containing any of these words holds a secret (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY,
# DB_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS, ...).
_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
_SECRET_NAME_RE = re.compile("|".join(_SECRET_WORDS), re.IGNORECASE)
# scheme://user:pass@host or scheme://token@host, anywhere inside a longer value. The userinfo
# runs to the last '@' before the path, so a password may hold '@' (or an unencoded '#' or
# '?': a password is never left behind for the sake of an odd query). ASCII whitespace ends a
# URL; any other character (U+2028 included) may be in a password.
_URL_USERINFO_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@", re.ASCII
)

# Words of an option or key name that make its value a secret (``--hf-pat``, ``db.password``,
# ``apiKey``); whole words, so ``--max-tokens`` and ``tokenizer=bert`` stay readable.
_SECRET_TOKENS = frozenset(
    {
        *("token", "secret", "secrets", "password", "passwd", "pwd", "pass", "passphrase"),
        *("credential", "credentials", "creds", "auth", "authorization", "cookie", "cookies"),
        *("apikey", "pat", "sig", "signature", "bearer", "privatekey", "sas", "accesstoken"),
    }
)
_KEY_OWNERS = frozenset(
    {"api", "access", "secret", "private", "client", "auth", "account", "master", "signing"}
)
_WORD_SPLIT_RE = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# `key=value` and `NAME=value` (Hydra's +/++/~ prefixes allowed); `--opt=value`.
_ASSIGNMENT_RE = re.compile(r"^(?P<name>(?:--?|[+~]{0,2})[A-Za-z_][\w.\-/]*)=(?P<value>.*)$", re.S)
_OPTION_RE = re.compile(r"^--?[A-Za-z][\w.-]*$")
# Patterns for free text, compiled on first use: most command lines never need them, and
# compiling costs milliseconds on every run's start.
_TEXT_PATTERNS = {
    "url": r"(?a)[A-Za-z][A-Za-z0-9+.-]*://\S+",
    # `Authorization: Bearer X`, `X-Api-Key: X`, `Cookie: a=b` in a header argument or a message.
    "header": (
        r"(?i)(?P<name>(?:proxy-)?authorization|(?:set-)?cookie|x-[\w-]*(?:token|key|auth|secret"
        r"|signature)[\w-]*|[\w-]*api-?key)[ \t]*:[ \t]*\S[^\r\n]*"
    ),
    "scheme": r"(?i)\b(?P<scheme>bearer|basic|token)[ \t]+[A-Za-z0-9._~+/=:-]{6,}",
    # `password=X` inside a longer text (a DSN "host=db password=X", an error message).
    "inner": r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)=(?P<value>[^\s&;,'\"]+)",
}


# Token formats that are secrets whatever name they sit under, with what each one is. Each
# starts with a fixed prefix and is long enough that ordinary words do not match: `sk-learn`
# is not an OpenAI key, `sk-proj-` followed by 20 characters is.
_SHAPES = (
    (r"gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}", "a GitHub token"),
    (r"gl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|soat|agent)-[A-Za-z0-9_-]{20,}", "a GitLab token"),
    (r"sk-(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{20,}", "an OpenAI key"),
    (r"hf_[A-Za-z0-9]{30,}", "a Hugging Face token"),
    (r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", "an AWS access key"),
    (r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,}", "a Slack token"),
    (
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        "a Slack webhook",
    ),
    (r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}", "a Stripe key"),
    (r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "a JWT"),
    (
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"
        r"(?:[A-Za-z0-9+/=:,\s-]*?-----END [A-Z0-9 ]*-----)?",
        "a private key",
    ),
)
# No letter, digit or `_` right before a token: `task-...` holds no `sk-` key.
_SHAPE_START = r"(?<![A-Za-z0-9_])"


@functools.cache
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(_TEXT_PATTERNS[name])


@functools.cache
def _shapes() -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One pattern with a group per token format (compiled on first use), and their words."""
    groups = "|".join(f"(?P<s{i}>{pattern})" for i, (pattern, _) in enumerate(_SHAPES))
    return re.compile(f"{_SHAPE_START}(?:{groups})"), tuple(word for _, word in _SHAPES)


def secret_shape(text: str) -> str | None:
    """What well-known token ``text`` holds (``a GitHub token``, ...), or None.

    Bytes are judged as ``data.decode("latin-1")``: every format is ASCII.
    """
    pattern, words = _shapes()
    match = pattern.search(text)
    if match is None:
        return None
    return words[int(str(match.lastgroup)[1:])]


def redact_shapes(text: str) -> str:
    """``text`` with every well-known token replaced by ``<redacted>``."""
    return _shapes()[0].sub(REDACTED, text)


def is_secret(name: str, value: object) -> bool:
    """The one rule for a named value (a param, a config key): secret by name or by shape."""
    last = re.split(r"[./]", name)[-1]
    if is_secret_name(last):
        return True
    return isinstance(value, str) and secret_shape(value) is not None


def is_secret_name(name: str) -> bool:
    """Return whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_NAME_RE.search(name))


def is_secret_key(name: str) -> bool:
    """Whether an option or key name (``--hf-pat``, ``db.password``, ``API_KEY``) is secret."""
    words = [w.lower() for w in _WORD_SPLIT_RE.split(name) if w]
    if not words:
        return False
    if any(word in _SECRET_TOKENS for word in words):
        return True
    if words[-1] in ("key", "keys"):
        return True
    return any(w == "key" and i and words[i - 1] in _KEY_OWNERS for i, w in enumerate(words))


def _secret_param(name: str) -> bool:
    return is_secret_key(name) or name.lower() == "code"  # an OAuth code is a credential


def _redact_pairs(text: str, separator: str = "&") -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(_secret_param(key) for key, _ in pairs):
        return text
    clean = [(key, REDACTED if _secret_param(key) else value) for key, value in pairs]
    return urlencode(clean, safe="<>")


def redact_url(url: str) -> str:
    """Return ``url`` without credentials: userinfo, secret query values and fragments.

    ``${ENV_VAR}`` references are kept: they name a secret without holding it.
    """

    def _userinfo(match: re.Match[str]) -> str:
        userinfo = match.group("userinfo")
        if ONLY_ENV_REFERENCES.match(userinfo):
            return match.group(0)
        return match.group("scheme")

    text = _URL_USERINFO_RE.sub(_userinfo, url)
    parts = urlsplit(text)
    if not parts.query and "=" not in parts.fragment:
        return text
    query = _redact_pairs(parts.query) if parts.query else parts.query
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (query, fragment) == (parts.query, parts.fragment):
        return text
    return urlunsplit(parts._replace(query=query, fragment=fragment))


def redact_value(name: str, value: str) -> str:
    """Return the value to record for environment variable ``name``."""
    if is_secret_name(name) or secret_shape(value) is not None:
        return REDACTED
    return redact_url(value)


def redact_text(text: str) -> str:
    """Remove secrets from free text (an error message, a shell line): URLs' credentials,
    secret headers, ``Bearer`` tokens, ``password=X`` pairs and ``--token X`` words."""
    text = _redact_inside(text)
    pieces = re.split(r"(\s+)", text)
    pieces[0::2] = _redact_words(pieces[0::2], lambda word: word)
    return "".join(pieces)


def _redact_inside(text: str) -> str:
    # Each pattern runs only where its mark is present: an ordinary argument costs nothing.
    text = redact_shapes(text)
    if "://" in text:
        text = _pattern("url").sub(lambda m: redact_url(m.group(0)), text)
    if ":" in text:
        text = _pattern("header").sub(lambda m: f"{m.group('name')}: {REDACTED}", text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered or "token" in lowered:
        text = _pattern("scheme").sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
    if "=" in text:
        text = _pattern("inner").sub(_inner, text)
    return text


def _secret_assignment(name: str) -> bool:
    return is_secret_key(name) or (name.isupper() and is_secret_name(name))


def _inner(match: re.Match[str]) -> str:
    name = match.group("name")
    return f"{name}={REDACTED}" if _secret_assignment(name) else match.group(0)


def redact_argv(argv: list[str]) -> list[str]:
    """Return ``argv`` with every secret value replaced by ``<redacted>``."""
    return _redact_words(argv, _redact_inside)


def _redact_words(words: list[str], inside: Callable[[str], str]) -> list[str]:
    """``--token X`` hides X, ``NAME=X``/``a.password=X`` hide X; ``inside`` cleans the rest."""
    out: list[str] = []
    hide_next = False
    for arg in words:
        if hide_next:
            hide_next = False
            if arg and not _OPTION_RE.match(arg):
                out.append(REDACTED)
                continue
        assignment = _ASSIGNMENT_RE.match(arg)
        if assignment:
            name = assignment.group("name")
            if _secret_assignment(name.lstrip("-+~")):
                out.append(f"{name}={REDACTED}")
                continue
        elif _OPTION_RE.match(arg) and is_secret_key(arg.lstrip("-")):
            out.append(arg)
            hide_next = True
            continue
        out.append(inside(arg))
    return out
