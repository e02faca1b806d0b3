#!/bin/sh
# bench/run-e2e.sh [BUILD] - the cluster end-to-end benchmark
# (docs/benchmarks.md, "Cluster end to end"): starts one member that runs
# no jobs and two runtimes (E2E_EXECUTORS executors each) on loopback,
# waits until both runtimes are registered, runs `assay-bench run
# --endpoint --events` against it in throughput mode; then does the same on
# a fresh cluster for latency mode (--rate); stops everything it started,
# also on error or interrupt.
#
# Environment (all optional):
#   E2E_JOBS=100000 E2E_PER_SPEC=100 E2E_WINDOW=8   throughput run
#   E2E_LAT_JOBS=5000 E2E_RATE=1000                  latency run
#   E2E_DEPTH=64                 jobs_per_executor on each runtime
#   E2E_EXECUTORS=2              executors per runtime (assayd's default is
#                                one per CPU: 2 here)
#   E2E_RT_SET="--set k=v ..."   extra runtime options (e.g. max_cpu_percent)
#   E2E_LEADER_SET="..."         extra member options
#   E2E_PORT=<base>              control plane on base, events on base+1
#   E2E_JSON=1                   assay-bench run --json (one JSON object a run)
#   E2E_TIMEOUT=120              assay-bench run --timeout, seconds per run
#   E2E_LEADER_WRAP="perf record -g -o /tmp/leader.data"  run the member
#                                under a profiler (stopped with SIGINT; each
#                                of the two clusters writes the same file)
#   E2E_KEEP=1                   keep the logs directory
#   E2E_SECURITY=curve           or none: every process and link without
#                                CURVE (docs/security.md); the keys are
#                                made in the logs directory
# Exit status: 0 when both runs completed every job; non-zero when either
# assay-bench run did not, or the cluster did not come up.
# (bench-e2e, the predecessor of `assay-bench run`, took --prefix tput|lat;
# assay-bench names its JobSpecs after its pid and start time, and each run
# gets a fresh cluster anyway.)
set -eu
build=${1:-build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
for f in bin/assayd bin/assayctl bin/assay-bench plugins-out/assay-action_noop.so; do
    if [ ! -e "$build/$f" ]; then
        echo "run-e2e: $build/$f missing (make build first)" >&2
        exit 1
    fi
done

jobs=${E2E_JOBS:-100000}
per_spec=${E2E_PER_SPEC:-100}
window=${E2E_WINDOW:-8}
lat_jobs=${E2E_LAT_JOBS:-5000}
rate=${E2E_RATE:-1000}
depth=${E2E_DEPTH:-64}
json=
[ "${E2E_JSON:-0}" = 1 ] && json=--json
timeout=${E2E_TIMEOUT:-120}

# Two free loopback ports unless told: the kernel picks, we release them.
if [ -n "${E2E_PORT:-}" ]; then
    p1=$E2E_PORT
    p2=$((E2E_PORT + 1))
else
    ports=$(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' 2>/dev/null || echo 17400 17401)
    p1=${ports% *}
    p2=${ports#* }
fi
cp=tcp://127.0.0.1:$p1
ev=tcp://127.0.0.1:$p2

logs=$(mktemp -d /tmp/assay-e2e.XXXXXX)
security=${E2E_SECURITY:-curve}
ASSAY_KEYS_DIR="$logs/keys"
export ASSAY_KEYS_DIR
pids=
leader_pid=
# Stops what start_cluster started: the member first, with SIGINT (a
# profiler wrapping it then writes its data), then the runtimes.
stop_cluster() {
    if [ -n "$leader_pid" ]; then
        kill -INT "$leader_pid" 2>/dev/null || true
    fi
    for p in $pids; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $leader_pid $pids; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    leader_pid=
    pids=
}
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    status=$?
    trap - EXIT INT TERM
    stop_cluster
    if [ "$status" -ne 0 ]; then
        for f in "$logs"/*.log; do
            [ -s "$f" ] || continue
            echo "--- $(basename "$f") (last 15 lines)" >&2
            tail -n 15 "$f" >&2
        done
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "run-e2e: logs kept in $logs" >&2
    else
        rm -rf "$logs"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts the member and the two runtimes, and waits (15 s at most) until
# both runtimes are registered and alive.
start_cluster() {
    echo "run-e2e: member on $cp (events $ev), 2 runtimes x ${E2E_EXECUTORS:-2} executors x" \
         "depth $depth; $(nproc) CPUs"
    # shellcheck disable=SC2086  # wrapper and extra sets are word lists
    ${E2E_LEADER_WRAP:-} "$build/bin/assayd" \
        --plugins-dir "$build/plugins-out" --executors 0 --listen "$cp" \
        --events "$ev" --node-id leader --set security="$security" \
        ${E2E_LEADER_SET:-} \
        >>"$logs/leader.log" 2>&1 &
    leader_pid=$!
    for rt in rt1 rt2; do
        # shellcheck disable=SC2086
        "$build/bin/assayd" --plugins-dir "$build/plugins-out" \
            --join "$cp" --executors ${E2E_EXECUTORS:-2} --node-id "$rt" \
            --set jobs_per_executor="$depth" --set security="$security" \
            ${E2E_RT_SET:-} \
            >>"$logs/$rt.log" 2>&1 &
        pids="$pids $!"
    done
    i=0
    while :; do
        alive=$("$build/bin/assayctl" --endpoint "$cp" --timeout-ms 1000 \
                    --security "$security" \
                    runtimes --json 2>/dev/null |
                grep -c '"alive": true' || true)
        [ "${alive:-0}" -ge 2 ] && break
        i=$((i + 1))
        if [ $i -ge 75 ]; then
            echo "run-e2e: runtimes not registered after 15 s" \
                 "(alive: ${alive:-0})" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "run-e2e: rt1 and rt2 registered"
}

# Each run gets a fresh cluster: the member keeps every job it ever ran,
# and what one run leaves behind would weigh on the next.
code=0
start_cluster
echo "run-e2e: throughput: $jobs noop jobs as $(((jobs + per_spec - 1) / per_spec))" \
     "JobSpecs of $per_spec, $window submits in flight"
"$build/bin/assay-bench" run --endpoint "$cp" --events "$ev" --jobs "$jobs" \
    --per-spec "$per_spec" --window "$window" --timeout "$timeout" \
    --security "$security" $json ||
    code=$?
stop_cluster

start_cluster
echo "run-e2e: latency: $lat_jobs one-job JobSpecs offered at $rate/s" \
     "(open loop)"
"$build/bin/assay-bench" run --endpoint "$cp" --events "$ev" \
    --jobs "$lat_jobs" --rate "$rate" --timeout "$timeout" \
    --security "$security" $json || code=$?
stop_cluster
exit "$code"
