#!/bin/bash
# bench/peers/beanstalkd.sh MODE [N] - beanstalkd, N no-op jobs, PEER_WORKERS
# workers; MODE: memory | fsync (binlog with -b DIR -f0: fsync on every
# write). Method from /work/shared/peers/README.md. Driver: bs_bench.c
# (+ cdriver.py) with PEER_INFLIGHT puts in flight on the producer's
# connection (default 1), so that beanstalkd runs at the client
# concurrency Assay is given; bs_bench.py, the first driver, keeps one.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
peer_args beanstalkd "${1:-}" "${2:-}" memory memory fsync "fsync each write"
need_pkgs beanstalkd gcc
gcc -O2 -Wall -o "$peer_work/bs_bench" "$PEERS_DIR/bs_bench.c" >&2 || {
    json_line beanstalkd "$PEER_DURABILITY" "$N" "" "bs_bench.c did not compile"; exit 1; }
inflight=${PEER_INFLIGHT:-1}
port=$(free_port)
args=(-l 127.0.0.1 -p "$port")
notes="beanstalkd $(beanstalkd -v 2>&1 | awk '{print $2}'), in memory"
if [ "$MODE" = fsync ]; then
    mkdir "$peer_work/binlog"
    args+=(-b "$peer_work/binlog" -f0)
    notes="beanstalkd $(beanstalkd -v 2>&1 | awk '{print $2}'), binlog -b DIR -f0 (fsync every write) on $(df -T "$peer_work" | awk 'NR==2{print $2}')"
fi
notes="$notes; C driver, $inflight put(s) in flight, $PEER_WORKERS worker processes (reserve+delete)"
beanstalkd "${args[@]}" 2>>"$peer_work/beanstalkd.log" &
track $!
wait_port "$port" || { json_line beanstalkd "$PEER_DURABILITY" "$N" "$notes" "server did not start"; exit 1; }
log "server pid $! on 127.0.0.1:$port; $N jobs"
run_driver beanstalkd "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/cdriver.py" "$peer_work/bs_bench" "$port" "$N" \
    "$PEER_WORKERS" "$inflight"
