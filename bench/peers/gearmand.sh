#!/bin/bash
# bench/peers/gearmand.sh MODE [N] - gearmand background jobs, N no-op jobs,
# PEER_WORKERS workers; MODE: memory (builtin queue) | sqlite (libsqlite3
# persistent queue: every background job is inserted into, and deleted
# from, an sqlite database; gearmand sets no PRAGMA, so sqlite's defaults
# hold: rollback journal, synchronous=FULL, an fsync'd commit per change).
# Method from /work/shared/peers/README.md; driver gm_bench.c + cdriver.py.
# gearmand may fork: the listening PID is stopped too.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
peer_args gearmand "${1:-}" "${2:-}" memory memory \
    sqlite "sqlite queue (synchronous=FULL, commit per job)"
need_pkgs gearman-job-server libgearman-dev gcc
gcc -O2 -o "$peer_work/gm_bench" "$PEERS_DIR/gm_bench.c" -lgearman >&2 || {
    json_line gearmand "$PEER_DURABILITY" "$N" "" "gm_bench.c did not compile"; exit 1; }
port=$(free_port)
args=(-L 127.0.0.1 -p "$port" -t 2 -l "$peer_work/gearmand.log" --verbose=ERROR)
ver=$(gearmand --version 2>&1 | awk 'NF{print $2; exit}')
notes="gearmand $ver, builtin queue (memory)"
if [ "$MODE" = sqlite ]; then
    args+=(-q libsqlite3 --libsqlite3-db "$peer_work/queue.sqlite")
    notes="gearmand $ver, libsqlite3 queue on $(df -T "$peer_work" | awk 'NR==2{print $2}')"
fi
notes="$notes; C driver, gearman_client_do_background (1 job per round trip), $PEER_WORKERS worker processes"
gearmand "${args[@]}" >>"$peer_work/gearmand.out" 2>&1 &
track $!
wait_port "$port" || { json_line gearmand "$PEER_DURABILITY" "$N" "$notes" "server did not start"; exit 1; }
lp=$(listen_pid "$port")
[ -n "$lp" ] && track "$lp"
log "server pid $lp on 127.0.0.1:$port; $N jobs"
run_driver gearmand "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/cdriver.py" "$peer_work/gm_bench" "$port" "$N" "$PEER_WORKERS"
