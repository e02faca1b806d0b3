#!/bin/bash
# bench/stream-catchup.sh - a result-stream consumer killed for a while
# under load catches up with nothing missing and nothing twice
# (docs/benchmarks.md, "The result stream: a consumer killed for 60 s").
#
#   bench/stream-catchup.sh [BUILD_DIR] [ROUNDS] [RATE] [DOWN_S] [FORMAT]
#
# Each round: one member (consensus none) and one runtime (2 executors)
# on 127.0.0.1; assay-bench offers RATE one-job JobSpecs a second (open
# loop) for DOWN_S + 20 s; a consumer, `assayctl watch --consumer bench
# [--json]` into a file (FORMAT rows, the default, or json), reads live,
# is killed with SIGKILL after 5 s, and
# is started again DOWN_S later from the last position its file holds
# (--from: the file is its truth, so a page printed but not acknowledged
# is not printed twice). The catch-up rate is the backlog it found at
# restart (the stream's end less its position) over the time it took to
# print it; once the load ends, a last read drains what is left, and the
# files are checked: every position from 1 to the end exactly once.
# Prints one line per round and min/median/max of the catch-up rate.
set -eu
build=${1:-build}
rounds=${2:-3}
rate=${3:-1000}
down=${4:-60}
format=${5:-rows}
json=
[ "$format" = json ] && json=--json
bin=$(cd "$build/bin" && pwd)
tmp=$(mktemp -d /tmp/assay-stream-bench-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The last complete line's position in a watch's file (0: none).
last_pos() {
    python3 - "$@" <<'EOF'
import json, sys
last = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().split("\n")
    except FileNotFoundError:
        continue
    for line in lines[:-1]:          # the last one may be cut short
        if line.startswith("{"):
            last = max(last, json.loads(line)["position"])
        elif line[:1].isdigit():
            last = max(last, int(line.split()[0]))
print(last)
EOF
}

rates=()
for round in $(seq 1 "$rounds"); do
    dir="$tmp/r$round"
    mkdir -p "$dir/keys"
    chmod 700 "$dir/keys"
    export ASSAY_KEYS_DIR="$dir/keys"
    port=$((28000 + round * 10))
    ep="tcp://127.0.0.1:$port"
    ctl="$bin/assayctl --endpoint $ep --timeout-ms 10000"
    "$bin/assayd" --node-id m1 --executors 0 --listen "$ep" \
        --events "tcp://127.0.0.1:$((port + 1))" \
        --set log_level=warn >"$dir/member.log" 2>&1 &
    pids+=($!)
    sleep 1
    "$bin/assayd" --node-id rt --executors 2 --join "$ep" \
        --set jobs_per_executor=64 --set log_level=warn \
        --set min_mem_free_percent=0 --set max_cpu_percent=100 \
        --set cgroup_root= >"$dir/runtime.log" 2>&1 &
    pids+=($!)
    sleep 1
    jobs=$((rate * (down + 20)))
    "$bin/assay-bench" run --endpoint "$ep" --jobs "$jobs" \
        --rate "$rate" --timeout $((down + 120)) --json \
        >"$dir/load.json" 2>"$dir/load.err" &
    load=$!
    pids+=($load)
    $ctl watch --consumer bench $json >"$dir/a.out" 2>"$dir/a.err" &
    consumer=$!
    pids+=($consumer)
    sleep 5
    kill -9 "$consumer"
    sleep "$down"
    from=$(last_pos "$dir/a.out")
    end=$($ctl consumers --json | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["end"])')
    backlog=$((end - from))
    t0=$(date +%s.%N)
    $ctl watch --consumer bench --from "$from" --count "$backlog" $json \
        >"$dir/b.out" 2>"$dir/b.err"
    t1=$(date +%s.%N)
    wait "$load" || true
    submitted=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("jobs", d.get("completed", 0)))' "$dir/load.json" 2>/dev/null || echo "?")
    # Everything that ended, drained: until the stream's end.
    from=$(last_pos "$dir/a.out" "$dir/b.out")
    end=$($ctl consumers --json | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["end"])')
    $ctl watch --consumer bench --from "$from" --count $((end - from)) \
        $json >"$dir/c.out" 2>"$dir/c.err"
    check=$(python3 - "$end" "$dir/a.out" "$dir/b.out" "$dir/c.out" <<'EOF'
import json, sys
end = int(sys.argv[1])
seen = {}
for path in sys.argv[2:]:
    lines = open(path).read().split("\n")
    for line in lines[:-1]:
        p = json.loads(line)["position"] if line.startswith("{") else \
            int(line.split()[0]) if line[:1].isdigit() else 0
        if p:
            seen[p] = seen.get(p, 0) + 1
missing = sum(1 for p in range(1, end + 1) if p not in seen)
dup = sum(n - 1 for n in seen.values() if n > 1)
print(f"{len(seen)} {missing} {dup}")
EOF
)
    read -r got missing dup <<<"$check"
    r=$(python3 -c "print(round($backlog / ($t1 - $t0)))")
    rates+=("$r")
    echo "round $round: stream end $end, backlog $backlog read in" \
        "$(python3 -c "print(round($t1 - $t0, 2))") s = $r results/s;" \
        "received $got, missing $missing, duplicate $dup (load: $submitted)"
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
done
printf '%s\n' "${rates[@]}" | sort -n | python3 -c '
import sys
v = [int(x) for x in sys.stdin.read().split()]
print(f"catch-up results/s: min {v[0]}, median {v[len(v)//2]}, max {v[-1]}")'
