# shellcheck shell=bash
# bench/peers/lib.sh - helpers sourced by bench/peers/<system>.sh.
# Method, packages and caveats credited to /work/shared/peers/README.md.
#
# Every <system>.sh script: installs what is missing from Debian (as root;
# otherwise prints the apt-get line and exits 77), starts its servers bound
# to 127.0.0.1 on free ports, runs the driver under `timeout`, stops every
# server it started by PID, and prints ONE line of JSON on stdout (progress
# and errors go to stderr). Exit 0 when the run measured, 1 when it failed
# (the JSON line then has "error"), 77 when packages are missing.
#
# Common environment (bench/compare sets them):
#   PEER_WORKERS=2        worker processes
#   PEER_LAT_JOBS=3000    jobs in the open-loop latency phase (0: skip it)
#   PEER_RATE=1000        offered jobs/s in the latency phase
#   PEER_INFLIGHT=1       submissions a driver keeps in flight (bs_bench.c)
#   PEER_TIMEOUT=150      seconds the driver may run (throughput + latency)
#   PEER_KEEP=1           keep the work directory (logs, data) for a look;
#                         it is kept anyway when the run failed (exit 1)

# shellcheck disable=SC2034  # used by the scripts that source this
PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
PEER_WORKERS=${PEER_WORKERS:-2}
PEER_LAT_JOBS=${PEER_LAT_JOBS:-3000}
PEER_RATE=${PEER_RATE:-1000}
PEER_TIMEOUT=${PEER_TIMEOUT:-150}
export PEER_WORKERS PEER_LAT_JOBS PEER_RATE

peer_pids=
peer_work=

log() { echo "peers/$PEER_NAME: $*" >&2; }

# json_line SYSTEM DURABILITY JOBS NOTES ERROR|"" [extra "k":v, ...]: a
# result line for runs that measured nothing (skipped, failed).
json_line() {
    "$PY" - "$@" <<'EOF'
import json, sys
system, durability, jobs, notes, error = sys.argv[1:6]
out = {"system": system, "durability": durability, "jobs": int(jobs),
       "jobs_per_s": None, "p50_ms": None, "p99_ms": None, "notes": notes}
if error:
    out["error"] = error
if len(sys.argv) > 6:
    out.update(json.loads("{" + sys.argv[6] + "}"))
print(json.dumps(out))
EOF
}

# need_pkgs PKG...: installs the Debian packages not yet installed (root),
# or prints the line to run and exits 77.
need_pkgs() {
    local missing='' p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages; run: apt-get install -y$missing"
        json_line "$PEER_NAME" "${PEER_DURABILITY:-?}" "${N:-0}" \
            "needs: apt-get install -y$missing" "missing packages" \
            '"skipped": "missing packages"'
        exit 77
    fi
    log "installing$missing"
    # shellcheck disable=SC2086  # $missing is a word list
    if ! DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            --no-install-recommends $missing >&2; then
        log "apt-get install failed; trying apt-get update first"
        timeout 300 apt-get update -q >&2 || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            --no-install-recommends $missing >&2 || {
            json_line "$PEER_NAME" "${PEER_DURABILITY:-?}" "${N:-0}" \
                "apt-get install -y$missing failed" "install failed"
            exit 1
        }
    fi
}

# free_port: a free TCP port on 127.0.0.1 (the kernel picks, we release it).
free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
    "$PY" - "$1" "${2:-15}" <<'EOF'
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# listen_pid PORT: PID of the process listening on 127.0.0.1:PORT.
listen_pid() {
    ss -ltnpH "sport = :$1" 2>/dev/null |
        sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1
}

# track PID...: stop_all will stop these.
track() { peer_pids="$peer_pids $*"; }

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaps it if it is ours.
stop_pid() {
    local p=$1 i=0
    kill -TERM "$p" 2>/dev/null || return 0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
        # a child of ours that exited is a zombie until reaped
        if [ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ]; then
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

stop_all() {
    local p
    for p in $peer_pids; do
        stop_pid "$p"
    done
    peer_pids=
}

# shellcheck disable=SC2317  # run by the EXIT trap
peer_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_all
    if [ -n "$peer_work" ]; then
        if [ "${PEER_KEEP:-0}" = 1 ] || [ "$status" -eq 1 ]; then
            log "work directory kept: $peer_work"
        else
            rm -rf "$peer_work"
        fi
    fi
    exit "$status"
}

# peer_init NAME: work directory, cleanup on exit or interrupt.
# peer_args SYSTEM MODE N MODE_A DURABILITY_A MODE_B DURABILITY_B: a
# script's two arguments (MODE, default MODE_A; N, default 20000). Sets
# MODE, N and PEER_DURABILITY, or prints the usage and exits 2; then
# peer_init SYSTEM-MODE.
peer_args() {
    local system=$1 a=$4 da=$5 b=$6 db=$7
    MODE=${2:-$a}
    N=${3:-20000}
    case $MODE in
    "$a") PEER_DURABILITY=$da ;;
    "$b") PEER_DURABILITY=$db ;;
    *) echo "usage: $0 $a|$b [N]" >&2; exit 2 ;;
    esac
    peer_init "$system-$MODE"
}

peer_init() {
    PEER_NAME=$1
    peer_work=$(mktemp -d "/tmp/assay-peer-$1.XXXXXX")
    trap peer_cleanup EXIT
    trap 'exit 130' INT TERM
}

# run_driver SYSTEM DURABILITY NOTES CMD...: runs a driver (which prints
# the JSON line) under timeout; on failure prints a JSON line with "error".
run_driver() {
    local system=$1 durability=$2 notes=$3 out rc=0 rc_msg line
    shift 3
    out=$(PEER_SYSTEM=$system PEER_DURABILITY=$durability PEER_NOTES=$notes \
          timeout -k 5 "$PEER_TIMEOUT" "$@") || rc=$?
    line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
    if [ -n "$line" ]; then
        printf '%s\n' "$line"
    else
        [ $rc -eq 124 ] && rc_msg="timed out after ${PEER_TIMEOUT}s" ||
            rc_msg="driver exited $rc"
        json_line "$system" "$durability" "$N" "$notes" "$rc_msg"
        [ $rc -ne 0 ] || rc=1
    fi
    return $rc
}

# start_redis MODE: redis-server on a free port, in memory (MODE memory:
# no RDB, no AOF) or with appendfsync always (MODE fsync); sets
# redis_port, redis_notes.
# shellcheck disable=SC2034  # redis_notes is for the caller
start_redis() {
    need_pkgs redis-server
    redis_port=$(free_port)
    local args=(--bind 127.0.0.1 --port "$redis_port" --save "" --daemonize no
                --dir "$peer_work" --logfile "$peer_work/redis.log")
    local ver
    ver=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
    if [ "$1" = fsync ]; then
        args+=(--appendonly yes --appendfsync always)
        redis_notes="Redis $ver, appendonly yes + appendfsync always on $(df -T "$peer_work" | awk 'NR==2{print $2}')"
    else
        args+=(--appendonly no)
        redis_notes="Redis $ver, no RDB/AOF (memory)"
    fi
    redis-server "${args[@]}" &
    track $!
    wait_port "$redis_port" || return 1
    log "redis-server pid $! on 127.0.0.1:$redis_port"
}
