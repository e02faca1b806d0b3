#!/bin/sh
# tests/bench/test_bench_floor.sh BUILD_DIR SOURCE_DIR
#
# bench-floor (bench/zmq_floor.c) and bench/latency-floor.sh: bad arguments
# are refused with exit 2 and a message naming them; a tiny run's JSON
# report holds every percentile, each no larger than the next. No timing
# is asserted.
set -u
build=$1
src=$2
floor="$build/bench/bench-floor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
failed=0

# refused WHAT NEEDLE CMD...: CMD exits 2 and says NEEDLE on stderr.
refused() {
    what=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    code=$?
    if [ "$code" = 2 ] && grep -qF -- "$needle" "$tmp/err"; then
        echo "ok: $what refused: $(cat "$tmp/err")"
    else
        failed=$((failed + 1))
        echo "FAIL: $what: exit $code (want 2), stderr: $(cat "$tmp/err")"
    fi
}

refused "--jobs abc" "--jobs 'abc'" "$floor" --jobs abc
refused "--rate 5x" "--rate '5x'" "$floor" --rate 5x
refused "--jobs 50 (below 100)" "--jobs '50'" "$floor" --jobs 50
refused "unknown option" "usage: bench-floor" "$floor" --bogus
refused "ROUNDS x" "ROUNDS=x" sh "$src/bench/latency-floor.sh" "$build" x
refused "LAT_RATE 0" "LAT_RATE=0" env LAT_RATE=0 \
    sh "$src/bench/latency-floor.sh" "$build" 1

if timeout -k 5 60 "$floor" --rate 1000 --jobs 200 --json >"$tmp/out" \
    2>"$tmp/err" &&
    /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = [d[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")]
assert d["jobs"] == 200 and d["rate"] == 1000, d
assert all(x >= 0 for x in v) and v == sorted(v), v
' "$tmp/out"; then
    echo "ok: 200 messages: $(cat "$tmp/out")"
else
    failed=$((failed + 1))
    echo "FAIL: tiny run: $(cat "$tmp/out") $(cat "$tmp/err")"
fi
[ "$failed" = 0 ]
