#!/bin/sh
# tests/integration/test_cp.sh BUILD_DIR SOURCE_DIR
#
# examples/cp.py, the third-party control plane written from
# docs/protocol.md, against a real member: a passing spec, events alone
# after the welcome, a failing check, an error reply, and MMI. Everything
# is bounded in time.
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
