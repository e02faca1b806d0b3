#!/bin/sh
# tests/integration/test_cp.sh BUILD_DIR SOURCE_DIR
#
# examples/cp.py, the third-party control plane written from
# docs/protocol.md, against a real member: the result stream read in two
# runs that resume, a passing spec, events alone after the welcome, a
# failing check, an error reply, and MMI. Everything is bounded in time.
set -u
build=$1
src=$2
py=/usr/bin/python3
cp="$src/examples/cp.py"
# Debian's python3-zmq and python3-msgpack, which scripts/install-deps
# installs with the build's packages: without them the test fails (a skip
# would drop the duplicate-submit check over the wire unnoticed).
if ! "$py" -c 'import zmq, msgpack'; then
    echo "FAIL: $py lacks the zmq or msgpack module (scripts/install-deps" \
        "installs python3-zmq and python3-msgpack)"
    exit 1
fi
tmp=$(mktemp -d)
# shellcheck source=member.sh
. "$src/tests/integration/member.sh"
member_cleanup "$tmp"

member_start "$tmp/assayd.log" "$build/bin/assayd" \
    --plugins-dir "$build/plugins-out" --executors 2

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    sed 's/^/    /' "$tmp/out"
}
# run_cp ARGS...: runs cp.py; output (stdout and stderr) in $tmp/out, exit in $code
run_cp() {
    timeout 60 "$py" "$cp" --endpoint "$ep" --events "$ev" --timeout 30 \
        "$@" >"$tmp/out" 2>&1
    code=$?
}

# The result stream (assay.stream, feature level 8: the member starts at
# all its build speaks), first, so that its 5 results are positions 1-5.
# A run stopped after 3 and one resumed from the state file print each
# once between them; a third prints nothing, and so does a read without
# the state file, from the consumer's acknowledged position.
cat >"$tmp/stream.json" <<'SPEC'
{"id": "cp-stream", "action": "noop.pass", "targets": [{}, {}, {}, {}, {}]}
SPEC
run_cp "$tmp/stream.json"
if [ "$code" = 0 ]; then ok "5 jobs for the stream ended"
else bad "stream jobs: exit $code (want 0)"; fi
# shown_stream N...: the start of runs N's stdout and stderr, for a FAIL
shown_stream() {
    for n in "$@"; do
        echo "run $n:"
        cut -c1-160 "$tmp/s$n" "$tmp/e$n" | head -n 20
    done
}
# run_stream N ARGS...: cp.py --stream tcp1; stdout in $tmp/sN, shown in $tmp/out
run_stream() {
    n=$1
    shift
    timeout 30 "$py" "$cp" --endpoint "$ep" --timeout 10 --stream tcp1 \
        "$@" >"$tmp/s$n" 2>"$tmp/e$n"
    code=$?
    shown_stream "$n" >"$tmp/out"
}
run_stream 1 --state "$tmp/st" --count 3
c1=$code
run_stream 2 --state "$tmp/st" --idle 2
c2=$code
: >"$tmp/check"
if [ "$c1" = 0 ] && [ "$c2" = 0 ] && "$py" - "$tmp/s1" "$tmp/s2" <<'CHECK' >"$tmp/check" 2>&1
import json, sys
runs = [[json.loads(line) for line in open(p)] for p in sys.argv[1:]]
got = [r["position"] for run in runs for r in run]
jobs = sorted(r["job"] for run in runs for r in run)
want = ["cp-stream-%d" % i for i in range(5)]
if [r["position"] for r in runs[0]] != [1, 2, 3] or sorted(got) != \
        [1, 2, 3, 4, 5] or jobs != want or \
        any(r["status"] != "pass" for run in runs for r in run):
    sys.exit("positions %s, jobs %s" % ([[r["position"] for r in run]
                                          for run in runs], jobs))
CHECK
then ok "stream: --count 3, then resumed: positions 1-5 once each"
else
    { cat "$tmp/check"; shown_stream 1 2; } >"$tmp/out"
    bad "stream: exits $c1, $c2 (want 0, 0), positions 1-5 once each"
fi
run_stream 3 --state "$tmp/st" --idle 1
if [ "$code" = 0 ] && [ ! -s "$tmp/s3" ] && [ "$(cat "$tmp/st")" = 5 ]
then ok "stream: a third run prints nothing, state 5"
else bad "stream: third run: exit $code (want 0, no output, state 5)"; fi
run_stream 4 --idle 1
if [ "$code" = 0 ] && [ ! -s "$tmp/s4" ]
then ok "stream: acknowledged: nothing after the consumer's position"
else bad "stream: without --state: exit $code (want 0, no output)"; fi

cat >"$tmp/pass.json" <<'SPEC'
{"id": "cp-pass", "action": "noop.pass", "targets": [{}, {}, {}, {}, {}]}
SPEC
run_cp "$tmp/pass.json"
n=$(grep -c "^cp-pass-[0-4] completed pass" "$tmp/out")
if [ "$code" = 0 ] && [ "$n" = 5 ]; then ok "5 jobs completed, pass"
else bad "noop.pass: exit $code, $n completed lines (want 0, 5)"; fi

# The same id again: the original jobs, marked duplicate.
run_cp "$tmp/pass.json"
if [ "$code" = 0 ] && grep -q "^spec cp-pass (duplicate)" "$tmp/out"
then ok "resubmission is idempotent"
else bad "resubmission: exit $code"; fi

# cp.py submits once the member has welcomed its subscription, so events
# alone must bring every job's end: no polling, a fresh subscriber each
# run, no warm-up.
i=0
while [ "$i" -lt 5 ]; do
    printf '{"id": "cp-ev%d", "action": "noop.pass", "targets": [{}, {}, {}]}\n' \
        "$i" >"$tmp/ev.json"
    run_cp --poll 0 "$tmp/ev.json"
    n=$(grep -c "^cp-ev$i-[0-2] completed pass" "$tmp/out")
    if [ "$code" != 0 ] || [ "$n" != 3 ]; then break; fi
    i=$((i + 1))
done
if [ "$i" = 5 ]; then ok "welcomed subscriber: events alone, 5 runs"
else bad "--poll 0, run $i: exit $code, $n completed lines (want 0, 3)"; fi

cat >"$tmp/fail.json" <<SPEC
{"id": "cp-fail", "action": "file.exists",
 "params": {"path": "$tmp/no/such/file"}}
SPEC
run_cp "$tmp/fail.json"
if [ "$code" = 1 ] && grep -q "^cp-fail-0 completed fail" "$tmp/out"
then ok "missing file: completed fail, exit 1"
else bad "file.exists of a missing path: exit $code (want 1)"; fi

cat >"$tmp/unknown.json" <<'SPEC'
{"id": "cp-unknown", "action": "nope.nothing"}
SPEC
run_cp "$tmp/unknown.json"
if [ "$code" = 2 ] && grep -q "no runtime offers plugin 'nope' (asked: " "$tmp/out" &&
    grep -q "known plugins:.*noop" "$tmp/out" &&
    grep -q "ASSAY_ENOENT" "$tmp/out"
then ok "unknown plugin: error reply, exit 2"
else bad "unknown plugin: exit $code (want 2, the runtimes asked and the known plugins)"; fi

run_cp --check-service assay.submit
if [ "$code" = 0 ] && [ "$(cat "$tmp/out")" = 200 ]; then ok "MMI assay.submit: 200"
else bad "MMI assay.submit: exit $code"; fi

run_cp --check-service nope
if [ "$code" = 1 ] && [ "$(cat "$tmp/out")" = 404 ]; then ok "MMI nope: 404"
else bad "MMI nope: exit $code"; fi

# Nothing listening: a bounded timeout, exit 2.
timeout 30 "$py" "$cp" --endpoint "tcp://127.0.0.1:1" --timeout 1 \
    --check-service assay.submit >"$tmp/out" 2>&1
code=$?
if [ "$code" = 2 ] && grep -q "timed out" "$tmp/out"; then ok "no member: timeout, exit 2"
else bad "no member: exit $code (want 2)"; fi

# A clean stop: SIGTERM, exit 0, and no sanitizer report in the log.
kill "$pid"
wait "$pid"
code=$?
pid=
if [ "$code" = 0 ] && ! grep -q "Sanitizer\|runtime error:" "$tmp/assayd.log"
then ok "member stopped cleanly"
else
    failed=$((failed + 1))
    echo "FAIL: member exit $code; its log:"
    cat "$tmp/assayd.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
