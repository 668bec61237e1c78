#!/usr/bin/env bash
# A local image registry on loopback, so tests can push an image and get a real repository
# digest (bases are pinned by digest) without reaching any outside registry.
#
#   eval "$(ci/registry.sh start)"   start it, print `export REPRO_REGISTRY=127.0.0.1:PORT`
#   ci/registry.sh stop              stop it by its pidfile
#   eval "$(ci/registry.sh env)"     print the export line; exit 1 when it is not running
#
# A second registry (the tests' basic-auth case) is the same script with its own port, folder
# and password file: REPRO_REGISTRY_PORT=5556 REPRO_REGISTRY_DIR=/tmp/x \
#   REPRO_REGISTRY_HTPASSWD=/tmp/x/htpasswd ci/registry.sh start|stop
#
# dockerd treats 127.0.0.0/8 as an insecure registry by default, so plain http works for pushes.
# When Debian's docker-registry cannot be installed, `start` says so, prints nothing and exits 0:
# tests that need a registry then skip (or fail under REPRO_REQUIRE_ENGINE=1).
set -euo pipefail

ENGINE_DIR="${REPRO_ENGINE_DIR:-/tmp/repro-engine}"
PORT="${REPRO_REGISTRY_PORT:-5555}"
ADDR="127.0.0.1:$PORT"
DIR="${REPRO_REGISTRY_DIR:-$ENGINE_DIR/registry}"
HTPASSWD="${REPRO_REGISTRY_HTPASSWD:-}"
PIDFILE="$DIR/registry.pid"
CONFIG="$DIR/config.yml"
LOG="$DIR/registry.log"
BIN=/usr/bin/docker-registry

log() { printf 'registry.sh: %s\n' "$*" >&2; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"
        return 1
    fi
}

ensure_installed() {
    [[ -x $BIN ]] && return 0
    log "installing docker-registry (apt-get)"
    mkdir -p "$DIR"
    # policy-rc.d keeps the package from starting its own registry on :5000.
    local guard=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$guard" >/dev/null && as_root chmod 755 "$guard"
    fi
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends docker-registry
    } >"$DIR/apt.log" 2>&1 || true
    [[ -n $guard ]] && as_root rm -f "$guard"
    [[ -x $BIN ]]
}

registry_pid() {
    [[ -r $PIDFILE ]] || return 1
    local pid
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "docker-registry serve $CONFIG" || return 1
    echo "$pid"
}

# A registry with basic auth answers /v2/ with 401: that is an answer too.
answers() {
    local code
    code=$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://$ADDR/v2/" 2>/dev/null) || return 1
    [[ $code == 200 || $code == 401 ]]
}

print_env() { echo "export REPRO_REGISTRY=$ADDR"; }

cmd_start() {
    if registry_pid >/dev/null && answers; then
        log "already running at $ADDR"
        print_env
        return 0
    fi
    if ! ensure_installed; then
        log "docker-registry is not installable here (see $DIR/apt.log); registry tests will skip"
        return 0
    fi
    mkdir -p "$DIR/data"
    # Loopback only: nothing else on the network should be able to push into the test registry.
    cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $ADDR
EOF
    if [[ -n $HTPASSWD ]]; then
        cat >>"$CONFIG" <<EOF
auth:
  htpasswd:
    realm: repro-test
    path: $HTPASSWD
EOF
    fi
    if answers; then
        log "error: something else already answers at $ADDR; set REPRO_REGISTRY_PORT"
        return 1
    fi
    local started=$SECONDS
    # setsid without a fork (this shell has no job control) keeps $! the registry's own pid;
    # 9>&-: the registry must not hold the start/stop lock.
    setsid "$BIN" serve "$CONFIG" >"$LOG" 2>&1 </dev/null 9>&- &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + 20))
    until answers; do
        # Alive, not "registry_pid": until setsid has exec'd the registry, the process's command
        # line is still this shell's, and a check by name would call a starting registry dead.
        if [[ ! -e /proc/$pid ]] || ((SECONDS >= deadline)); then
            log "registry did not answer at $ADDR; last lines of $LOG:"
            tail -n 20 "$LOG" >&2 || true
            cmd_stop
            return 1
        fi
        sleep 0.2
    done
    log "registry $(registry_pid) answers at http://$ADDR after $((SECONDS - started)) s"
    print_env
}

cmd_stop() {
    local pid
    if pid=$(registry_pid); then
        log "stopping registry $pid"
        kill -TERM "$pid"
        local deadline=$((SECONDS + 10))
        while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
        [[ -e /proc/$pid ]] && kill -KILL "$pid"
    else
        log "not running (no live registry in $PIDFILE)"
    fi
    rm -f "$PIDFILE"
}

cmd_env() {
    print_env
    if ! (registry_pid >/dev/null && answers); then
        log "no registry answers at $ADDR; start one with: eval \"\$(ci/registry.sh start)\""
        return 1
    fi
}

take_lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/registry.lock"
    flock 9
}

case "${1:-}" in
    start) take_lock && cmd_start ;;
    stop) take_lock && cmd_stop ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
