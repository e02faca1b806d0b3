#!/bin/bash
# bench/metrics-scrape.sh - what scraping /metrics costs the data path
# (docs/benchmarks.md, "Metrics: what a scrape costs").
#
#   bench/metrics-scrape.sh [BUILD_DIR] [ROUNDS] [JOBS] [INTERVAL_S]
#
# Each round runs `assay-bench run` twice, alternating which goes first:
# once with nobody scraping, once with a scraper fetching the leader's
# /metrics every INTERVAL_S (1) seconds. Same cluster shape (one member,
# consensus none, two real runtimes), same JOBS (20000) noop jobs, a
# fresh cluster each run. Prints jobs/s for each run, then min/median/max
# of each mode.
set -eu
build=${1:-build}
rounds=${2:-3}
jobs=${3:-20000}
interval=${4:-1}
bin=$(cd "$build/bin" && pwd)
port=28790
scraper=
cleanup() { [ -n "$scraper" ] && kill "$scraper" 2>/dev/null; true; }
trap cleanup EXIT

run() { # MODE -> jobs/s
    if [ "$1" = scrape ]; then
        (while :; do
             curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/metrics"
             sleep "$interval"
         done) &
        scraper=$!
    fi
    "$bin/assay-bench" run --jobs "$jobs" --runtimes 2 --json \
        --member-set "metrics_listen=127.0.0.1:$port" 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs_per_s"]))'
    if [ -n "$scraper" ]; then
        kill "$scraper" 2>/dev/null || true
        wait "$scraper" 2>/dev/null || true
        scraper=
    fi
}

none=() scrape=()
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="none scrape"; else order="scrape none"; fi
    for mode in $order; do
        r=$(run "$mode")
        echo "round $round: $mode $r jobs/s"
        if [ "$mode" = none ]; then none+=("$r"); else scrape+=("$r"); fi
    done
done
for mode in none scrape; do
    eval "v=(\"\${${mode}[@]}\")"
    printf '%s\n' "${v[@]}" | sort -n | python3 -c "
import sys
v = [int(x) for x in sys.stdin.read().split()]
print('$mode: min %d, median %d, max %d jobs/s' % (v[0], v[len(v)//2], v[-1]))"
done
