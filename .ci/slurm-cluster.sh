#!/usr/bin/env bash
# A throwaway single-node SLURM cluster for CI (Debian bookworm slurm-wlm + munge, as root,
# no systemd), so the workflow can be run through profiles/slurm for real.
#
#   .ci/slurm-cluster.sh install        apt-get install slurm-wlm munge (if not there yet)
#   .ci/slurm-cluster.sh start STATE    write slurm.conf, start munged, slurmctld, slurmd,
#                                       wait for the node to be idle, run a smoke job;
#                                       every daemon started is recorded in STATE/pids
#   .ci/slurm-cluster.sh stop STATE     cancel the cluster's jobs, stop exactly the daemons
#                                       recorded in STATE/pids (by PID), remove our slurm.conf
#
# The configuration follows shared/reference/snakemake_notes.md §4: no accounting database
# (job status comes from squeue, so MinJobAge is raised to keep finished jobs visible), the
# node line from `slurmd -C`, one partition `debug`.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARKER="# strflow CI throwaway cluster"

log() { echo "[slurm-cluster] $*" >&2; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        log "slurm-wlm and munge already installed"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
    log "installed $(dpkg-query -W -f='${Package} ${Version}' slurmctld) and $(dpkg-query -W -f='${Package} ${Version}' munge)"
}

# Start "$@" detached in its own session, in the foreground mode of the daemon, and record its PID.
spawn() {
    local name=$1
    shift
    setsid "$@" >"$STATE/log/$name.out" 2>&1 </dev/null &
    echo "$! $name" >>"$STATE/pids"
    log "started $name (pid $!)"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start() {
    [[ $(id -u) == 0 ]] || { log "must run as root (starts munged, slurmctld, slurmd)"; exit 1; }
    mkdir -p "$STATE/log" "$STATE/spool/ctld" "$STATE/spool/d" /etc/slurm
    : >"$STATE/pids"
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        log "$CONF exists and is not ours: refusing to overwrite a real cluster's configuration"
        exit 1
    fi
    local host node_line
    host=$(hostname -s)
    # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
    node_line=$(slurmd -C | head -n 1)
    cat >"$CONF" <<EOF
$MARKER (written by .ci/slurm-cluster.sh; removed by its stop)
ClusterName=strflowci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SwitchType=switch/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
MinJobAge=3600
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
$node_line State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF"

    if munge_works; then
        log "munged already running: using it (not ours to stop)"
    else
        mkdir -p /run/munge
        [[ -s /etc/munge/munge.key ]] || mungekey -c
        spawn munged munged -F --force --pid-file="$STATE/munged.pid"
        for _ in $(seq 50); do munge_works && break; sleep 0.2; done
        munge_works || { log "munged did not come up"; exit 1; }
    fi
    spawn slurmctld slurmctld -D -f "$CONF"
    for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
    spawn slurmd slurmd -D -f "$CONF"

    local state=""
    for i in $(seq 120); do
        state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
        [[ $state == idle ]] && break
        if [[ $state == down* || $state == drain* ]] && ((i % 10 == 0)); then
            scontrol update nodename="$host" state=resume || true
        fi
        sleep 0.5
    done
    [[ $state == idle ]] || { log "node never became idle (state: '$state'); see $STATE/log"; exit 1; }
    timeout 60 srun -p debug -t 1 true
    log "cluster up: $(sinfo -h -o '%P %D %T %c cpus %m MB')"
}

stop() {
    [[ -f $STATE/pids ]] || { log "nothing recorded in $STATE/pids"; return 0; }
    # Jobs first (their slurmstepd processes belong to slurmd), then the daemons, newest first.
    scancel --partition=debug >/dev/null 2>&1 || true
    for _ in $(seq 30); do [[ -z $(squeue -h -t R,CG,PD 2>/dev/null) ]] && break; sleep 0.5; done
    local pid name
    tac "$STATE/pids" | while read -r pid name; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then
                log "$name (pid $pid) ignored SIGTERM: killing"
                kill -KILL "$pid" || true
            fi
            log "stopped $name (pid $pid)"
        fi
    done
    : >"$STATE/pids"
    if [[ -e $CONF ]] && grep -qF "$MARKER" "$CONF"; then rm -f "$CONF"; fi
}

cmd=${1:-}
case $cmd in
install) install ;;
start | stop)
    [[ $# == 2 ]] || { echo "usage: $0 $cmd STATE_DIR" >&2; exit 2; }
    STATE=$(mkdir -p "$2" && cd "$2" && pwd)
    "$cmd"
    ;;
*)
    echo "usage: $0 install | start STATE_DIR | stop STATE_DIR" >&2
    exit 2
    ;;
esac
