"""Run inside a built image: `python /case-tools/verify.py VARIANT [--package]`.

Checks what a matching, clean image must be; exits non-zero naming the first failure.
"""

import importlib.metadata
import os
import re
import shutil
import sys
import tempfile


def pins(path):
    found = {}
    with open(path) as handle:
        for line in handle:
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", line)
            if match:
                found[match.group(1)] = match.group(2)
    return found


def main():
    variant = sys.argv[1]
    package = "--package" in sys.argv
    locks = ["/case/lockfiles/prod.txt"]
    if variant == "dev" and os.path.exists("/case/lockfiles/dev.txt"):
        locks.append("/case/lockfiles/dev.txt")
    for lock in locks:
        for name, version in pins(lock).items():
            installed = importlib.metadata.version(name)
            assert installed == version, f"{name}: locked {version}, installed {installed}"
    assert os.getuid() != 0, "runs as root"
    home = os.environ["HOME"]
    with tempfile.NamedTemporaryFile(dir=home):
        pass  # HOME is writable for whatever uid runs the image
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        assert name not in os.environ, f"{name} is set in the image"
    assert not os.path.exists("/usr/local/share/repro/ca-bundle.crt"), "build CA bundle kept"
    assert not os.path.exists("/tmp/repro-ca.crt"), "build CA bundle kept"
    for cache in ("/root/.cache/pip", os.path.join(home, ".cache", "pip")):
        assert not os.path.exists(cache), f"pip cache {cache}"
    lists = [n for n in os.listdir("/var/lib/apt/lists") if n not in ("partial", "lock")]
    assert not lists, f"apt lists kept: {lists[:3]}"
    assert sys.prefix == "/opt/venv", sys.prefix
    if variant == "prod":
        for compiler in ("cc", "gcc", "c++"):
            assert shutil.which(compiler) is None, f"compiler {compiler} in prod"
        assert os.getcwd() == "/app"
        assert os.path.isfile("/app/train.py"), "code missing"
        for kept_out in (".env", ".git", "data", "runs", "wheels"):
            assert not os.path.exists(os.path.join("/app", kept_out)), f"{kept_out} in prod"
        if package:
            import caseapp

            assert caseapp.__file__.startswith("/opt/venv/"), caseapp.__file__
    else:
        assert os.getcwd() == "/workspace"
    print("verified", variant)


if __name__ == "__main__":
    main()
