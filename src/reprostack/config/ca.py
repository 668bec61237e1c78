"""The CA bundle a build (and an in-image lock) trusts, read from what repro.yaml names.

Behind a TLS-intercepting proxy or with a private index on its own CA, pip inside a container
must trust more than the image's default bundle; ``build.host_ca_bundle`` and
``build.ca_certificates`` say what.
"""

from __future__ import annotations

from pathlib import Path

from reprostack.config.schema import Config
from reprostack.errors import ConfigError

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def ca_bundle(config: Config) -> bytes | None:
    """Return the CA bundle builds should trust: the host's (when asked) then the extra ones.

    Returns None when repro.yaml asks for none. Extra certificates alone replace the default
    trust inside the build, which is what a proxy intercepting every connection needs.
    """
    parts: list[bytes] = []
    if config.build.host_ca_bundle:
        try:
            parts.append(HOST_CA_BUNDLE.read_bytes())
        except OSError as exc:
            raise ConfigError(
                [f"build.host_ca_bundle: cannot read {HOST_CA_BUNDLE}: {exc}"],
                hint="install ca-certificates on this host, or set host_ca_bundle: false",
            ) from exc
    for name in config.build.ca_certificates:
        path = config.root / name
        try:
            parts.append(path.read_bytes())
        except OSError as exc:
            raise ConfigError([f"build.ca_certificates: cannot read {name}: {exc}"]) from exc
    if not parts:
        return None
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)
