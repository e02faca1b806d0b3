#!/bin/bash
# bench/leader-cpu.sh [BUILD] [JOBS] [PER_SPEC] [WINDOW] - the member's CPU
# per job: one member (consensus none, --executors 0) and two runtimes
# (2 executors x 64 deep, CPU and memory gates off) on free ports of
# 127.0.0.1, then `assay-bench run --endpoint --events`; the member's utime
# + stime from /proc/PID/stat over the run, divided by JOBS. Defaults:
# build, 20000 one-job JobSpecs, 8 in flight. Everything started is
# stopped. With LEADER_WRAP="taskset -c 0" (say) the member runs under it;
# with PERF=FILE the member is recorded by `perf record -g` into FILE.
set -eu
b=${1:-build}
jobs=${2:-20000}
per_spec=${3:-1}
window=${4:-8}
port=$(/usr/bin/python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cp="tcp://127.0.0.1:${port% *}"
ev="tcp://127.0.0.1:${port#* }"
d=$(mktemp -d)
pids=
trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
# shellcheck disable=SC2086  # the wrapper is a word list
${LEADER_WRAP:-} "$b/bin/assayd" --plugins-dir "$b/plugins-out" --executors 0 \
    --listen "$cp" --events "$ev" --node-id leader --set log_level=warn \
    >"$d/leader.log" 2>&1 &
leader=$!
pids=$leader
for rt in rt1 rt2; do
    "$b/bin/assayd" --plugins-dir "$b/plugins-out" --join "$cp" \
        --executors 2 --node-id "$rt" --set jobs_per_executor=64 \
        --set max_cpu_percent=100 --set min_mem_free_percent=0 \
        --set log_level=warn >"$d/$rt.log" 2>&1 &
    pids="$pids $!"
done
for _ in $(seq 75); do
    n=$("$b/bin/assayctl" --endpoint "$cp" --timeout-ms 1000 runtimes --json \
        2>/dev/null | grep -c '"alive": true' || true)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.2
done
[ "${n:-0}" -ge 2 ] || { echo "leader-cpu: runtimes not up" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$leader/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks)
if [ -n "${PERF:-}" ]; then
    perf record -F 2000 -g --call-graph dwarf,16384 -o "$PERF" -p "$leader" \
        2>/dev/null &
    perf_pid=$!
    sleep 0.5
fi
"$b/bin/assay-bench" run --endpoint "$cp" --events "$ev" --jobs "$jobs" \
    --per-spec "$per_spec" --window "$window" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json, sys
for l in sys.stdin:
    if l.startswith("{"):
        r = json.loads(l)
        print("jobs/s %s ok %s" % (r.get("jobs_per_s"), r.get("ok")))'
c1=$(ticks)
if [ -n "${PERF:-}" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
fi
echo "leader CPU: $(( (c1 - c0) * 1000 / hz )) ms, $(( (c1 - c0) * 1000000000 / hz / jobs )) ns per job"
