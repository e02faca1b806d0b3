#!/bin/bash
# bench/peers/beanstalkd.sh MODE [N] - beanstalkd, N no-op jobs, PEER_WORKERS
# workers; MODE: memory | fsync (binlog with -b DIR -f0: fsync on every
# write). Method from /work/shared/peers/README.md; driver bs_bench.py.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
peer_args beanstalkd "${1:-}" "${2:-}" memory memory fsync "fsync each write"
need_pkgs beanstalkd
port=$(free_port)
args=(-l 127.0.0.1 -p "$port")
notes="beanstalkd $(beanstalkd -v 2>&1 | awk '{print $2}'), in memory"
if [ "$MODE" = fsync ]; then
    mkdir "$peer_work/binlog"
    args+=(-b "$peer_work/binlog" -f0)
    notes="beanstalkd $(beanstalkd -v 2>&1 | awk '{print $2}'), binlog -b DIR -f0 (fsync every write) on $(df -T "$peer_work" | awk 'NR==2{print $2}')"
fi
notes="$notes; python driver (1 put per round trip), $PEER_WORKERS worker processes (reserve+delete)"
beanstalkd "${args[@]}" 2>>"$peer_work/beanstalkd.log" &
track $!
wait_port "$port" || { json_line beanstalkd "$PEER_DURABILITY" "$N" "$notes" "server did not start"; exit 1; }
log "server pid $! on 127.0.0.1:$port; $N jobs"
run_driver beanstalkd "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/bs_bench.py" "$port" "$N" "$PEER_WORKERS"
