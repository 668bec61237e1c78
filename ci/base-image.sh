#!/usr/bin/env bash
# Make sure the engine has the local base image (no image registry is reachable here, so it is
# built from Debian packages with debootstrap) and print its image id on stdout.
#
#   ci/base-image.sh            import from the cached rootfs, or build it first
#   ci/base-image.sh --rebuild  throw the cached rootfs away and build it again
#
# The rootfs tarball is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/reprostack-ci so a second
# machine start only pays for `docker import`.
set -euo pipefail

ENGINE_DIR="${REPRO_ENGINE_DIR:-/tmp/repro-engine}"
export DOCKER_HOST="${DOCKER_HOST:-unix://$ENGINE_DIR/docker.sock}"
IMAGE="${REPRO_BASE_IMAGE:-local/debian-python:bookworm}"
SUITE=bookworm
MIRROR="${REPRO_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=python3,python3-venv,python3-pip,ca-certificates
ARCH=$(dpkg --print-architecture)
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/reprostack-ci"
TARBALL="$CACHE_DIR/debian-python-$SUITE-$ARCH.tar"

log() { printf 'base-image.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
[[ -n $DOCKER ]] || die "no docker CLI; run ci/engine.sh start first"
"$DOCKER" version >/dev/null 2>&1 || die "no engine answers at $DOCKER_HOST; run: eval \"\$(ci/engine.sh start)\""

rebuild=0
case "${1:-}" in
    "") ;;
    --rebuild) rebuild=1 ;;
    *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null; }

# Two sessions starting at once would both debootstrap and race on the cache; take turns.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/base-image.lock"
flock 9

if ((!rebuild)) && id=$(image_id); then
    log "$IMAGE is present"
    echo "$id"
    exit 0
fi

ROOTFS=""
cleanup() {
    [[ -n $ROOTFS && -d $ROOTFS ]] || return 0
    # debootstrap mounts /proc and /sys (and may bind /dev) inside the rootfs; a failed run can
    # leave them mounted, and rm -rf must never walk into the host's /dev.
    awk -v d="$ROOTFS" 'index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r \
        | while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt" || true; done
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

build_rootfs() {
    command -v debootstrap >/dev/null || die "debootstrap missing; ci/engine.sh start installs it"
    mkdir -p "$CACHE_DIR"
    ROOTFS=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    local started=$SECONDS
    log "debootstrap $SUITE ($PACKAGES) from $MIRROR; log in $CACHE_DIR/debootstrap.log"
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
        >"$CACHE_DIR/debootstrap.log" 2>&1; then
        tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    # Package caches and lists are stale the moment they are written; images run
    # `apt-get update` before installing anyway, as every Dockerfile does.
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
        "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* "$ROOTFS"/debootstrap
    # /dev, /proc and /sys are provided by the container runtime; numeric owners because the
    # host's user names mean nothing inside the image.
    tar -C "$ROOTFS" --numeric-owner --sort=name --one-file-system \
        --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
        -cf "$TARBALL.tmp" .
    sha256sum "$TARBALL.tmp" | cut -d' ' -f1 >"$TARBALL.sha256.tmp"
    mv -f "$TARBALL.tmp" "$TARBALL"
    mv -f "$TARBALL.sha256.tmp" "$TARBALL.sha256"
    log "rootfs built in $((SECONDS - started)) s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    cleanup
    ROOTFS=""
}

import_tarball() {
    local started=$SECONDS sha
    sha=$(<"$TARBALL.sha256")
    "$DOCKER" import \
        -c 'CMD ["bash"]' \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c "LABEL dev.reprostack.ci.rootfs-sha256=$sha" \
        -m "debootstrap --variant=minbase $SUITE with $PACKAGES" \
        "$TARBALL" "$IMAGE" >/dev/null || return 1
    log "imported $IMAGE in $((SECONDS - started)) s"
}

# A tar cut short at a file boundary still imports "fine", so check the recorded sha256.
cache_intact() {
    [[ -s $TARBALL && -s $TARBALL.sha256 ]] || return 1
    [[ $(sha256sum "$TARBALL" | cut -d' ' -f1) == "$(<"$TARBALL.sha256")" ]]
}

if ((rebuild)) || ! cache_intact; then
    ((rebuild)) || [[ ! -e $TARBALL ]] || log "cached rootfs is incomplete; rebuilding it"
    build_rootfs
fi
if ! import_tarball; then
    # A truncated or corrupt cache must not wedge CI: build once from nothing and retry.
    log "import from the cached rootfs failed; rebuilding it"
    rm -f "$TARBALL" "$TARBALL.sha256"
    build_rootfs
    import_tarball || die "docker import failed"
fi
image_id || die "$IMAGE missing after import"
