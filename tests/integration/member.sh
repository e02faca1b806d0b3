# shellcheck shell=sh
# tests/integration/member.sh - sourced by the shell suites: one member
# on free ports of 127.0.0.1, which runs its own jobs.
#
#   member_start LOG ASSAYD [ARGS...]   sets ep, ev and pid, or exits 1
#   member_stop                         stops it
#   member_cleanup DIR                  at exit, however the suite exits:
#                                       member_stop, then DIR removed;
#                                       and the suite's keys in DIR/keys
#                                       (ASSAY_KEYS_DIR, exported: the
#                                       member makes them, clients find
#                                       them)
#
# Two free ports are picked by the kernel, then closed: another process
# may take one before assayd binds it. assayd then exits 69 with "address
# already in use", and it starts again on fresh ports (a few tries).
#
# The resource monitor's gates are off and the suite sets what it depends
# on: a busy build machine must not hold the jobs back (a runtime grants
# no credit while CPU is above the limit or memory below the floor), and
# no host cgroup is read. timeout bounds the daemon's life; it passes our
# SIGTERM on and returns the daemon's exit status. Logging is at `info`:
# the member is up once its runtime says "registered with".
pid=

# One try: 0 when up, 2 when a port was taken; exits 1 otherwise.
member_try() {
    log=$1
    shift
    ports=$(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
    ep="tcp://127.0.0.1:${ports% *}"
    ev="tcp://127.0.0.1:${ports#* }"
    timeout -k 5 120 "$@" --listen "$ep" --events "$ev" --node-id m1 \
        --set max_cpu_percent=100 --set min_mem_free_percent=0 \
        --set cgroup_root= --set log_level=info >"$log" 2>&1 &
    pid=$!
    i=0
    until grep -q "registered with" "$log"; do
        i=$((i + 1))
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            code=$?
            pid=
            if [ "$code" = 69 ] && grep -q "already in use" "$log"; then
                return 2
            fi
            echo "FAIL: the member exited $code while starting:"
            cat "$log"
            exit 1
        fi
        if [ "$i" -gt 100 ]; then
            echo "FAIL: the member did not come up within 10 s:"
            cat "$log"
            exit 1
        fi
        sleep 0.1
    done
}

member_start() {
    try=1
    until member_try "$@"; do
        if [ "$try" -ge 4 ]; then
            echo "FAIL: a port was taken on each of $try tries:"
            cat "$1"
            exit 1
        fi
        echo "note: a port was taken; again on fresh ports"
        try=$((try + 1))
    done
}

member_stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=
    fi
}

member_cleanup() {
    member_dir=$1
    ASSAY_KEYS_DIR="$member_dir/keys"
    export ASSAY_KEYS_DIR
    trap 'member_stop; rm -rf "$member_dir"' EXIT
    trap 'exit 1' INT TERM
}
