"""Regenerate the wheels and locks of the image test cases (run by hand, then commit).

    .venv/bin/python tests/image_cases/make_cases.py

Wheels are written directly with fixed timestamps, so their bytes (and the locks' hashes)
are the same on every run; builds then need no package index at all.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
_STAMP = (2020, 1, 1, 0, 0, 0)
# name, version, requirements
WHEELS = {
    "alpha": ("1.0.0", ()),
    "beta": ("2.1.0", ("alpha>=1.0",)),
    "devtool": ("3.0.0", ("alpha>=1.0",)),
}
CASES = {
    # case: (prod packages, dev packages or None)
    "package": (("alpha", "beta"), ("devtool",)),
    "scripts": (("alpha",), None),
}
# Cases whose prod lock says every pin has a wheel for the image (`# wheels: all`, which
# `repro lock` writes after reading the index): their images have no builder stage.
WHEELS_ONLY = ("scripts",)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...]) -> Path:
    """Write a pure-Python wheel whose module records its own version."""
    dist = f"{name}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {req}" for req in requires]
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist}/METADATA": ("\n".join(meta) + "\n").encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: make_cases\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{path},sha256={_b64(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(files):
            info = zipfile.ZipInfo(member, _STAMP)
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[member])
    return path


def lock_text(variant: str, names: tuple[str, ...], wheels: Path, all_wheels: bool = False) -> str:
    """Return a lock in the format `repro lock` writes: header, blank line, hashed body."""
    body = "--no-index\n--find-links ../wheels\n\n"
    for name in sorted(names):
        version = WHEELS[name][0]
        digest = hashlib.sha256(
            (wheels / f"{name}-{version}-py3-none-any.whl").read_bytes()
        ).hexdigest()
        body += f"{name}=={version} \\\n    --hash=sha256:{digest}\n"
    inputs = hashlib.sha256(f"{variant}:{' '.join(names)}".encode()).hexdigest()
    header = [
        "# Written by `repro lock`; do not edit by hand (`repro lock --check` notices).",
        "# repro-lock: 1",
        f"# variant: {variant}",
        "# tool: hand 1",
        "# python: 3.11",
        "# platform: linux/amd64",
        *(["# wheels: all"] if all_wheels else []),
        f"# inputs-sha256: {inputs}",
        f"# body-sha256: {hashlib.sha256(body.encode()).hexdigest()}",
    ]
    return "\n".join(header) + "\n\n" + body


def main() -> None:
    for case, (prod, dev) in CASES.items():
        wheels = HERE / case / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        for old in wheels.glob("*.whl"):
            old.unlink()
        needed = {*prod, *(dev or ()), "alpha"}
        for name in sorted(needed):
            make_wheel(wheels, name, *WHEELS[name])
        locks = HERE / case / "lockfiles"
        locks.mkdir(exist_ok=True)
        (locks / "prod.txt").write_text(lock_text("prod", prod, wheels, case in WHEELS_ONLY))
        if dev is not None:
            # dev.txt repeats prod's pins, as a lock compiled with -c prod.txt does.
            (locks / "dev.txt").write_text(lock_text("dev", (*prod, *dev), wheels))
    # Builds refuse a lock older than its inputs: the headers record the inputs as they are.
    import sys

    sys.path.insert(0, str(HERE.parent))
    from handlocks import restamp

    for case in CASES:
        restamp(HERE / case)


if __name__ == "__main__":
    main()
