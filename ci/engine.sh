#!/usr/bin/env bash
# A private Docker engine for the test suite and CI.
#
#   eval "$(ci/engine.sh start)"   install if needed, start, print `export DOCKER_HOST=...`
#   ci/engine.sh stop              stop it (by its pidfile) and clean up its exec root
#   eval "$(ci/engine.sh env)"     print the export line; exit 1 when the engine is not running
#   ci/engine.sh status            exit 0 when it answers
#
# Only the export line goes to stdout so that `eval` stays safe; everything else is on stderr.
# Images live in $REPRO_ENGINE_DIR/data and survive stop/start.
set -euo pipefail

ENGINE_DIR="${REPRO_ENGINE_DIR:-/tmp/repro-engine}"
SOCK="$ENGINE_DIR/docker.sock"
PIDFILE="$ENGINE_DIR/dockerd.pid"
LOG="$ENGINE_DIR/dockerd.log"
START_TIMEOUT="${REPRO_ENGINE_TIMEOUT:-60}"

log() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian's CLI (20.10) can do BuildKit builds with DOCKER_BUILDKIT=1; a newer CLI without the
# buildx plugin cannot, so prefer the one that came with the daemon.
docker_cli() {
    if [[ -x /usr/bin/docker ]]; then
        echo /usr/bin/docker
    else
        command -v docker || true
    fi
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root for: $*"
    fi
}

# Installs the engine (and, while apt is busy anyway, the loopback registry) when missing.
ensure_packages() {
    local pkgs=()
    command -v dockerd >/dev/null || pkgs+=(docker.io)
    command -v debootstrap >/dev/null || pkgs+=(debootstrap)
    [[ ${#pkgs[@]} -eq 0 ]] && return 0

    mkdir -p "$ENGINE_DIR"
    local apt_log="$ENGINE_DIR/apt.log" started=$SECONDS
    log "installing ${pkgs[*]} (apt-get; log in $apt_log)"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get update failed"
    fi
    if [[ ! -x /usr/bin/docker-registry ]] \
        && apt-cache show docker-registry >/dev/null 2>&1; then
        pkgs+=(docker-registry)
    fi
    if ! apt_install "${pkgs[@]}" >>"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get install ${pkgs[*]} failed"
    fi
    log "installed ${pkgs[*]} in $((SECONDS - started)) s"
}

# Package scripts must not start the distribution's own dockerd or registry on the default
# socket: without an init system that would leave a second, unmanaged engine behind.
apt_install() {
    local guard=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$guard" >/dev/null
        as_root chmod 755 "$guard"
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" || rc=$?
    if [[ -n $guard ]]; then
        as_root rm -f "$guard"
    fi
    return "$rc"
}

# The pid from the pidfile, only when that process is alive and is a dockerd (pids get reused).
engine_pid() {
    [[ -r $PIDFILE ]] || return 1
    local pid
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "dockerd .*$PIDFILE" || return 1
    echo "$pid"
}

answers() {
    local cli
    cli=$(docker_cli)
    [[ -n $cli ]] || return 1
    DOCKER_HOST="unix://$SOCK" timeout 5 "$cli" version >/dev/null 2>&1
}

print_env() { echo "export DOCKER_HOST=unix://$SOCK"; }

unmount_under() {
    # Deepest first, so nested mounts (netns inside exec root) go before their parents.
    local dir=$1 mnt
    [[ -d $dir ]] || return 0
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts \
        | sort -r | while read -r mnt; do
            as_root umount "$mnt" 2>/dev/null || as_root umount -l "$mnt" || true
        done
}

cmd_start() {
    if engine_pid >/dev/null && answers; then
        log "already running (pid $(engine_pid)) at unix://$SOCK"
        print_env
        return 0
    fi
    ensure_packages
    command -v dockerd >/dev/null || die "dockerd not found after install"

    mkdir -p "$ENGINE_DIR"
    local pid
    if pid=$(engine_pid); then
        # Alive but not answering: a half-started engine; replace it rather than guess.
        log "engine pid $pid does not answer; restarting it"
        cmd_stop
    fi
    rm -f "$PIDFILE" "$SOCK"
    unmount_under "$ENGINE_DIR/exec"

    local started=$SECONDS
    # setsid: the engine must outlive this script and ignore Ctrl-C aimed at the caller;
    # 9>&-: it must not inherit (and hold forever) the start/stop lock.
    as_root setsid dockerd \
        --data-root "$ENGINE_DIR/data" \
        --exec-root "$ENGINE_DIR/exec" \
        --pidfile "$PIDFILE" \
        -H "unix://$SOCK" \
        --storage-driver=overlay2 \
        >"$LOG" 2>&1 </dev/null 9>&- &

    local deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if ((SECONDS >= deadline)); then
            log "dockerd did not answer within ${START_TIMEOUT}s; last lines of $LOG:"
            tail -n 30 "$LOG" >&2 || true
            cmd_stop || true
            exit 1
        fi
        sleep 0.2
    done
    log "dockerd $(engine_pid) answers at unix://$SOCK after $((SECONDS - started)) s"
    print_env
}

cmd_stop() {
    local pid
    if pid=$(engine_pid); then
        log "stopping dockerd $pid"
        as_root kill -TERM "$pid"
        # dockerd stops containers first (up to its 15 s shutdown timeout), then containerd.
        local deadline=$((SECONDS + 40))
        while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
        if [[ -e /proc/$pid ]]; then
            log "dockerd $pid still alive after 40 s; killing it"
            as_root kill -KILL "$pid" || true
            sleep 1
        fi
    else
        log "not running (no live dockerd in $PIDFILE)"
    fi
    # Without this, removing the exec root fails with "Device or resource busy".
    unmount_under "$ENGINE_DIR/exec"
    unmount_under "$ENGINE_DIR/data"
    as_root rm -rf --one-file-system "$ENGINE_DIR/exec"
    rm -f "$PIDFILE" "$SOCK"
}

cmd_env() {
    print_env
    if ! (engine_pid >/dev/null && answers); then
        log "no engine answers at unix://$SOCK; start one with: eval \"\$(ci/engine.sh start)\""
        return 1
    fi
}

cmd_status() {
    local pid
    if pid=$(engine_pid) && answers; then
        log "running: pid $pid at unix://$SOCK"
    else
        log "not running"
        return 1
    fi
}

# Several test sessions may call start/stop at once; they share one engine, so take turns.
take_lock() {
    mkdir -p "$ENGINE_DIR"
    exec 9>"$ENGINE_DIR/engine.lock"
    flock 9
}

case "${1:-}" in
    start) take_lock && cmd_start ;;
    stop) take_lock && cmd_stop ;;
    env) cmd_env ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop|env|status" >&2
        exit 2
        ;;
esac
