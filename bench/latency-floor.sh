#!/bin/sh
# bench/latency-floor.sh [BUILD] [ROUNDS] - Assay's submit->completed latency
# at a fixed offered rate next to the machine's floor for the same hops
# (bench-floor: bare libzmq, no job logic), alternating, ROUNDS times
# (default 5), so both see the same machine (docs/benchmarks.md).
#
# Environment (optional): LAT_RATE=1000 LAT_JOBS=5000 LAT_RUNTIMES=2
# Prints one line per run: round, what, p50, p90, p99, max (ms).
set -eu
build=${1:-build}
rounds=${2:-5}
rate=${LAT_RATE:-1000}
jobs=${LAT_JOBS:-5000}
runtimes=${LAT_RUNTIMES:-2}
floor="$build/bench/bench-floor"
bench="$build/bin/assay-bench"
for v in "ROUNDS=$rounds" "LAT_RATE=$rate" "LAT_JOBS=$jobs" \
    "LAT_RUNTIMES=$runtimes"; do
    case ${v#*=} in
    '' | *[!0-9]* | 0) echo "latency-floor: $v: a positive whole number" >&2; exit 2 ;;
    esac
done
for f in "$floor" "$bench"; do
    [ -x "$f" ] || { echo "latency-floor: $f not built (make build)" >&2; exit 2; }
done
# row ROUND WHAT: one table row from the JSON report on stdin (bench-floor's
# p50_ms.., or assay-bench's latency_ms.p50..).
row() {
    /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
l = d.get("latency_ms") or {k: d[k + "_ms"] for k in ("p50", "p90", "p99", "max")}
print("%-5s %-22s %8.2f %8.2f %8.2f %8.2f" % (sys.argv[1], sys.argv[2],
      l["p50"], l["p90"], l["p99"], l["max"]))' "$1" "$2"
}
printf '%-5s %-22s %8s %8s %8s %8s\n' round what p50_ms p90_ms p99_ms max_ms
r=1
while [ "$r" -le "$rounds" ]; do
    "$floor" --rate "$rate" --jobs "$jobs" --json |
        row "$r" "floor (bare libzmq)"
    "$bench" run --rate "$rate" --jobs "$jobs" --runtimes "$runtimes" --json \
        2>/dev/null | row "$r" "assay ($runtimes runtimes)"
    r=$((r + 1))
done
