#!/bin/bash
# bench/peers/slurm.sh [N] - Slurm (slurm-wlm + munge from Debian) on one
# node, brought up here in a work directory within PEER_SLURM_UP (default
# 300) seconds: munged on a private socket and key, slurmctld and slurmd in
# the foreground on free ports of 127.0.0.1, one node "bench" with 2 CPUs
# (2 one-CPU jobs at a time: the 2 workers), ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none, SelectType=select/cons_tres, no accounting, the
# scheduler told to run as often as it allows. N is capped at PEER_SLURM_JOBS
# (default 100): Slurm runs a few jobs a second, 20,000 would take hours.
# If it does not come up in time, prints a JSON line with "skipped" and why.
# Method from /work/shared/peers/README.md; driver slurm_bench.py.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
N_ASKED=${1:-20000}
N=$N_ASKED
cap=${PEER_SLURM_JOBS:-100}
[ "$N" -gt "$cap" ] && N=$cap
PEER_DURABILITY="state files (slurmctld StateSaveLocation)"
peer_init slurm
need_pkgs slurm-wlm munge
up_budget=${PEER_SLURM_UP:-300}
t_start=$(date +%s)
skip() {
    log "skipped: $1"
    json_line slurm "$PEER_DURABILITY" "$N" "Slurm single node: $1" "" \
        "\"skipped\": $("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1")"
    exit 0
}
w=$peer_work
chmod 711 "$w"
mkdir -p "$w/state" "$w/spool"
mungekey -c -k "$w/munge.key" -b 1024 >&2 2>&1 || skip "mungekey failed"
chmod 600 "$w/munge.key"
munged -F -f -S "$w/munge.sock" --key-file "$w/munge.key" \
    --log-file "$w/munged.log" --pid-file "$w/munged.pid" \
    --seed-file "$w/munged.seed" >"$w/munged.out" 2>&1 &
track $!
i=0
until [ -S "$w/munge.sock" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && skip "munged did not start: $(tail -n 1 "$w/munged.out")"
    sleep 0.1
done
p1=$(free_port)
p2=$(free_port)
host=$(hostname -s)
export SLURM_CONF=$w/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=assaybench
SlurmctldHost=$host(127.0.0.1)
SlurmctldAddr=127.0.0.1
SlurmctldPort=$p1
SlurmdPort=$p2
AuthType=auth/munge
AuthInfo=socket=$w/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$w/state
SlurmdSpoolDir=$w/spool
SlurmctldPidFile=$w/slurmctld.pid
SlurmdPidFile=$w/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,default_queue_depth=1000
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmctldLogFile=$w/slurmctld.log
SlurmdLogFile=$w/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=bench Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# The jobs are stopped before the daemons, and any step daemon of ours
# (slurmstepd detaches; found by the SLURM_CONF it inherited) by PID.
slurm_stop() {
    local p
    timeout 10 scancel -p bench 2>/dev/null || true
    sleep 0.5
    stop_all
    # shellcheck disable=SC2013  # one /proc path a line, no spaces
    for p in $(grep -l "SLURM_CONF=$SLURM_CONF" /proc/[0-9]*/environ 2>/dev/null |
               cut -d/ -f3); do
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] || kill -KILL "$p" 2>/dev/null || true
    done
}
# shellcheck disable=SC2154  # st is set by the trap itself
trap 'st=$?; slurm_stop; (exit $st); peer_cleanup' EXIT
slurmctld -D -f "$SLURM_CONF" >"$w/slurmctld.out" 2>&1 &
track $!
slurmd -D -f "$SLURM_CONF" -N "$host" >"$w/slurmd.out" 2>&1 &
track $!
until timeout 5 sinfo -h -o '%t' 2>/dev/null | grep -qx idle; do
    if [ $(($(date +%s) - t_start)) -ge "$up_budget" ]; then
        skip "not up within ${up_budget}s (sinfo: $(timeout 5 sinfo -h -o '%t' 2>&1 | head -n 1); slurmctld: $(tail -n 1 "$w/slurmctld.log" 2>/dev/null))"
    fi
    sleep 0.5
done
log "slurmctld on 127.0.0.1:$p1, slurmd on :$p2, node idle after $(($(date +%s) - t_start))s; $N jobs"
notes="Slurm $(slurmctld -V | awk '{print $2}'), 1 node, 2 CPUs (2 jobs at a time), 1 sbatch --wrap per job (shell one-liner), scheduler cycle ~1 s; N capped at $N (asked $N_ASKED)"
run_driver slurm "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/slurm_bench.py" "$w/done.txt" "$N"
