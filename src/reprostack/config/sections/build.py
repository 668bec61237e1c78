"""``build:``: what image builds trust."""

from __future__ import annotations

from dataclasses import dataclass

from reprostack.config.reader import FieldReader, Reader, Slot


@dataclass(frozen=True)
class BuildConfig:
    """How images are built: ``build:`` in repro.yaml."""

    ca_certificates: tuple[str, ...] = ()
    # Also trust the host's CA bundle inside builds (TLS-intercepting proxies).
    host_ca_bundle: bool = False
    # After a build, import each direct dependency's modules in the image (exit 1 on failure).
    smoke_test: bool = True


def _ca_certificates(reader: Reader, slot: Slot) -> tuple[str, ...]:
    certs: tuple[str, ...] = reader.typed(slot)
    for index, cert in enumerate(certs):
        if not (reader.root / cert).is_file():
            reader.problem(
                (*slot.path, str(index)),
                f"'{cert}' is not a file (paths are relative to repro.yaml)",
            )
    return certs


CHECKS: dict[str, FieldReader] = {"ca_certificates": _ca_certificates}
