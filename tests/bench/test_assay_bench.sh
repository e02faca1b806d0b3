#!/bin/sh
# tests/bench/test_assay_bench.sh BUILD_DIR SOURCE_DIR
#
# assay-bench (bench/assay-bench/) end to end with tiny N: it starts its
# own cluster (one member, real or simulated runtimes), runs 200 noop jobs
# and reports one JSON object whose counts must add up. No timing is
# asserted: this build runs under ASan, and the machine may be busy.
# assay-bench copies its children's sanitizer reports to its stderr, which
# this script prints, so ctest's FAIL_REGULAR_EXPRESSION sees them.
set -u
build=$1
bench="$build/bin/assay-bench"
if [ ! -x "$bench" ]; then
    echo "FAIL: $bench missing"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
# field NAME: a top-level integer of the report in $tmp/out (compact JSON;
# the names asked for occur once).
field() { sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9]*\).*/\1/p" "$tmp/out" | head -n 1; }

# check NAME ARGS...: runs assay-bench ARGS --json, checks the report.
check() {
    name=$1
    shift
    timeout -k 10 240 "$bench" "$@" --json --timeout 120 >"$tmp/out" 2>"$tmp/err"
    code=$?
    sub=$(field submitted)
    com=$(field completed)
    fai=$(field failed)
    err=$(field errors)
    if [ "$code" = 0 ] && [ -n "$sub" ] && [ -n "$com" ] && [ -n "$fai" ] &&
        [ "$sub" -eq $((com + fai)) ] && [ "$com" -eq 200 ] &&
        [ "$err" = 0 ] && grep -q '"ok":true' "$tmp/out"; then
        passed=$((passed + 1))
        echo "ok: $name: submitted $sub, completed $com, failed $fai, errors $err"
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $code, submitted '$sub', completed '$com'," \
             "failed '$fai', errors '$err' (want 0, 200 = 200 + 0, 0)"
        echo "    report:"
        sed 's/^/    /' "$tmp/out"
    fi
    echo "    stderr:"
    sed 's/^/    /' "$tmp/err"
}

check "2 real runtimes" run --jobs 200 --runtimes 2
check "5 simulated runtimes" run --simulated --runtimes 5 --jobs 200
check "without security" run --simulated --runtimes 5 --jobs 200 \
    --security none

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
