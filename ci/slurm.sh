#!/usr/bin/env bash
# A real single-node Slurm cluster for the tests, isolated under one folder: its own munge key
# and socket, its own slurm.conf, free ports; nothing in /etc is touched.
#
#   eval "$(ci/slurm.sh start)"   install slurm-wlm+munge if missing, start munged, slurmctld,
#                                 slurmd; print `export SLURM_CONF=...`
#   ci/slurm.sh stop              stop the three daemons by their pidfiles
#   eval "$(ci/slurm.sh env)"     print the export line; exit 1 when the cluster is not up
#
# Without slurmdbd there is no sacct: finished jobs are read from the job-completion file
# (JobCompLoc), which repro finds through `scontrol show config`.
# When slurm-wlm cannot be installed, `start` says so, prints nothing and exits 0: Slurm tests
# then skip (or fail under REPRO_REQUIRE_SLURM=1, as CI sets).
set -euo pipefail

DIR="${REPRO_SLURM_DIR:-/tmp/repro-slurm}"
CONF="$DIR/slurm.conf"
MUNGE="$DIR/munge"
RUN="$DIR/run"
LOG="$DIR/log"

log() { printf 'slurm.sh: %s\n' "$*" >&2; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"
        return 1
    fi
}

ensure_installed() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
    log "installing slurm-wlm and munge (apt-get; log in $DIR/apt.log)"
    mkdir -p "$DIR"
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends slurm-wlm munge
    } >"$DIR/apt.log" 2>&1 || true
    command -v slurmctld >/dev/null && command -v munged >/dev/null
}

# A live pid from a pidfile whose command line names $2 (pids are reused; names are not proof).
live_pid() {
    [[ -r $1 ]] || return 1
    local pid
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
    echo "$pid"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

print_env() { echo "export SLURM_CONF=$CONF"; }

answers() { SLURM_CONF=$CONF sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

start_munge() {
    live_pid "$MUNGE/munged.pid" munged >/dev/null && return 0
    mkdir -p "$MUNGE"
    [[ -s $MUNGE/munge.key ]] || dd if=/dev/urandom bs=1 count=1024 of="$MUNGE/munge.key" 2>/dev/null
    # munged insists: the key readable by its user only, its folders not writable by others.
    # Clients (slurmctld, sbatch) reach the socket through the folder: searchable by all.
    chown -R munge:munge "$MUNGE"
    chmod 711 "$MUNGE" "$DIR"
    chmod 400 "$MUNGE/munge.key"
    su -s /bin/sh munge -c "/usr/sbin/munged --socket=$MUNGE/munge.socket \
        --key-file=$MUNGE/munge.key --pid-file=$MUNGE/munged.pid \
        --log-file=$MUNGE/munged.log --seed-file=$MUNGE/munged.seed" 9>&-
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(($(free -m | awk '/Mem:/{print $2}') - 1024))
    mkdir -p "$DIR"/{state,spool} "$RUN" "$LOG"
    cat >"$CONF" <<EOF
ClusterName=repro
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$MUNGE/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

cmd_start() {
    if live_pid "$RUN/slurmctld.pid" slurmctld >/dev/null && answers; then
        log "already running ($CONF)"
        print_env
        return 0
    fi
    if ! ensure_installed; then
        log "slurm-wlm is not installable here (see $DIR/apt.log); Slurm tests will skip"
        return 0
    fi
    local started=$SECONDS
    start_munge
    write_conf  # fresh free ports each start: an old pick may be taken by now
    # Both daemonise and write their pidfiles; 9>&-: they must not hold the start/stop lock.
    SLURM_CONF=$CONF slurmctld -f "$CONF" 9>&-
    SLURM_CONF=$CONF slurmd -f "$CONF" 9>&-
    local deadline=$((SECONDS + 30))
    until answers; do
        if ((SECONDS >= deadline)); then
            log "the node did not come up; last lines of $LOG/slurmctld.log and slurmd.log:"
            tail -n 15 "$LOG/slurmctld.log" "$LOG/slurmd.log" >&2 || true
            cmd_stop
            return 1
        fi
        sleep 0.3
    done
    log "slurm up after $((SECONDS - started)) s: $(SLURM_CONF=$CONF sinfo -h | head -n 1)"
    print_env
}

stop_pid() {
    local pid=$1 deadline=$((SECONDS + 10))
    kill -TERM "$pid" 2>/dev/null || return 0
    while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
    [[ -e /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
    return 0
}

cmd_stop() {
    local pid
    for name in slurmd slurmctld; do
        if pid=$(live_pid "$RUN/$name.pid" "$name"); then
            log "stopping $name $pid"
            stop_pid "$pid"
        fi
    done
    if pid=$(live_pid "$MUNGE/munged.pid" munged); then
        log "stopping munged $pid"
        stop_pid "$pid"
    fi
}

cmd_env() {
    print_env
    if ! (live_pid "$RUN/slurmctld.pid" slurmctld >/dev/null && answers); then
        log "no Slurm cluster at $CONF; start one with: eval \"\$(ci/slurm.sh start)\""
        return 1
    fi
}

take_lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/slurm.lock"
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
