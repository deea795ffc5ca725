#!/usr/bin/env bash
# slurm_cluster.sh: a throw-away one-node Slurm cluster for tests, from Debian's
# slurmctld, slurmd, slurm-client and munge.
#
#   tests/e2e/slurm_cluster.sh start DIR   # DIR: a new, empty folder; prints SLURM_CONF=...
#   tests/e2e/slurm_cluster.sh stop DIR    # cancels its jobs, stops its daemons
#
# Everything lives under DIR: its own munged (own key and socket, run as the munge user),
# slurm.conf, state, spool and logs; slurmctld and slurmd listen on two free ports, so the
# cluster touches no system configuration and cannot collide with a real Slurm or with
# another test's cluster. Clients reach it through SLURM_CONF=DIR/slurm.conf.
#
# Every daemon started is recorded (pid, DIR, owner pid) in $PREFOPT_SLURM_REGISTRY
# (default ${TMPDIR:-/tmp}/prefopt-slurm-daemons); the owner is $PREFOPT_SLURM_OWNER
# (default: the calling process). `start` first stops the daemons and job processes of
# clusters whose owner has died (what a killed or crashed test leaves behind), by their
# recorded ids; a cluster whose owner still runs is left alone.
# Needs root (slurmd runs jobs as any user; SlurmUser=root).
set -uo pipefail

REGISTRY=${PREFOPT_SLURM_REGISTRY:-${TMPDIR:-/tmp}/prefopt-slurm-daemons}
me="slurm_cluster"

die() {
    echo "$me: error: $*" >&2
    exit 1
}

# cmdline PID: the process's command line with spaces, or nothing when it is gone.
cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null; }

# ancestors: this process and its parents (never killed by the environment sweep).
ancestors() {
    local p=$$
    while [ -n "$p" ] && [ "$p" -gt 1 ]; do
        echo "$p"
        p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    done
}

# stop_pid PID: TERM, up to 10 s, then KILL.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null
}

# sweep DIR: stops the recorded daemons of the cluster in DIR (checking that each pid
# still runs a command naming DIR), then every process whose environment points at
# DIR/slurm.conf (batch shells, launchers and ranks of its jobs).
sweep() {
    local dir=$1 pid d keep
    if [ -f "$REGISTRY" ]; then
        while read -r pid d _; do
            [ "$d" = "$dir" ] || continue
            case "$(cmdline "$pid")" in
                *"$dir"*) stop_pid "$pid" ;;
            esac
        done <"$REGISTRY"
        awk -v d="$dir" '$2 != d' "$REGISTRY" >"$REGISTRY.new.$$" && mv -f "$REGISTRY.new.$$" "$REGISTRY"
    fi
    keep=" $(ancestors | tr '\n' ' ') "
    for e in /proc/[0-9]*/environ; do
        pid=${e#/proc/}
        pid=${pid%/environ}
        case "$keep" in *" $pid "*) continue ;; esac
        if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF "SLURM_CONF=$dir/slurm.conf"; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
}

# sweep_stale: the clusters of earlier runs whose owner process is gone.
sweep_stale() {
    [ -f "$REGISTRY" ] || return 0
    local d owner
    awk '{print $2, $3}' "$REGISTRY" | sort -u | while read -r d owner; do
        [ -n "$d" ] || continue
        [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null && continue
        echo "$me: stopping a cluster left behind in $d" >&2
        sweep "$d"
    done
}

# free_port_pair: a port P such that P and P+1 are not listened on.
free_port_pair() {
    local used p
    used=$(ss -Htln 2>/dev/null | awk '{n=split($4,a,":"); print a[n]}')
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM % 20000) * 2))
        if ! grep -qx "$p" <<<"$used" && ! grep -qx "$((p + 1))" <<<"$used"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

OWNER=${PREFOPT_SLURM_OWNER:-$PPID}
record() { echo "$1 $2 $OWNER" >>"$REGISTRY"; }

# wait_for SECONDS WHAT CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
    local secs=$1 what=$2
    shift 2
    for _ in $(seq 1 $((secs * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "$me: error: $what did not come up within ${secs} s" >&2
    return 1
}

show_logs() {
    local dir=$1 f
    for f in "$dir"/log/*; do
        [ -s "$f" ] || continue
        echo "---- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
}

start() {
    local dir=$1 host cpus mem_mb port
    [ "$(id -u)" = 0 ] || die "needs root (slurmd runs the jobs; SlurmUser=root)"
    for c in munged slurmctld slurmd sbatch scontrol sinfo squeue scancel setpriv ss; do
        command -v "$c" >/dev/null 2>&1 ||
            die "$c not found: install slurmctld slurmd slurm-client munge (scripts/install-deps.sh)"
    done
    id munge >/dev/null 2>&1 || die "no munge user: install the munge package"
    if [ ! -d "$dir" ] || [ -n "$(ls -A "$dir")" ]; then
        die "$dir: want an existing, empty folder"
    fi
    dir=$(cd "$dir" && pwd)
    sweep_stale

    host=$(hostname -s)
    # nproc obeys OMP_NUM_THREADS; at least 2 CPUs so that 2-rank jobs fit on a 1-core
    # runner too (SlurmdParameters=config_overrides: slurmd trusts slurm.conf)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    [ "$cpus" -ge 2 ] || cpus=2
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 / 2}' /proc/meminfo)
    port=$(free_port_pair) || die "no free pair of TCP ports for slurmctld and slurmd"
    chmod 755 "$dir"
    setpriv --reuid=munge --regid=munge --clear-groups test -x "$dir" ||
        die "$dir: the munge user cannot reach it; make its parent folders traversable (chmod o+x)"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" || die "$dir: cannot create folders"

    # munged: own key and socket, as the munge user (it refuses insecure folders)
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none || die "cannot write a munge key"
    chown -R munge:munge "$dir/munge"
    chmod 755 "$dir/munge"
    chmod 600 "$dir/munge/munge.key"
    setpriv --reuid=munge --regid=munge --clear-groups munged -F \
        --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
        --log-file="$dir/munge/munged.log" >"$dir/log/munged.out" 2>&1 &
    record $! "$dir"
    if ! wait_for 10 munged test -S "$dir/munge/munge.socket"; then
        cat "$dir/log/munged.out" >&2
        exit 1
    fi

    cat >"$dir/slurm.conf" <<EOF
# written by tests/e2e/slurm_cluster.sh: a one-node test cluster
ClusterName=prefopt-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
JobRequeue=1
MinJobAge=600
KillWait=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -D -f "$dir/slurm.conf" >"$dir/log/slurmctld.out" 2>&1 &
    record $! "$dir"
    if ! wait_for 20 slurmctld scontrol ping; then
        show_logs "$dir"
        exit 1
    fi
    slurmd -D -f "$dir/slurm.conf" >"$dir/log/slurmd.out" 2>&1 &
    record $! "$dir"
    if ! wait_for 30 "slurmd (node $host idle)" sh -c 'sinfo -h -o %T | grep -qx idle'; then
        sinfo >&2
        show_logs "$dir"
        exit 1
    fi
    echo "SLURM_CONF=$dir/slurm.conf"
}

stop() {
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/slurm.conf" ] && SLURM_CONF="$dir/slurm.conf" scontrol ping >/dev/null 2>&1; then
        SLURM_CONF="$dir/slurm.conf" scancel --full --quiet --user="$(id -un)" 2>/dev/null
        for _ in $(seq 1 50); do
            [ -z "$(SLURM_CONF="$dir/slurm.conf" squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    sweep "$dir"
}

case "${1:-}" in
    start)
        [ $# -eq 2 ] || die "usage: $0 start DIR"
        start "$2"
        ;;
    stop)
        [ $# -eq 2 ] || die "usage: $0 stop DIR"
        stop "$2"
        ;;
    *) die "usage: $0 start|stop DIR" ;;
esac
