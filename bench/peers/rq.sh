#!/bin/bash
# bench/peers/rq.sh MODE [N] - RQ (PEER_WORKERS SimpleWorker processes,
# started before the jobs are enqueued) with Redis, N no-op jobs; MODE:
# memory (Redis without persistence) | fsync (Redis appendfsync always).
# Method from /work/shared/peers/README.md; driver rq_bench.py + rqtasks.py.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
peer_args rq "${1:-}" "${2:-}" memory memory fsync "fsync each write"
need_pkgs python3-rq python3-redis redis-server
start_redis "$MODE" || { json_line rq "$PEER_DURABILITY" "$N" "" "redis-server did not start"; exit 1; }
ver=$("$PY" -c 'import rq; print(rq.__version__)')
notes="RQ $ver (SimpleWorker x $PEER_WORKERS, result_ttl=0), $redis_notes; python client, 1 enqueue() per job"
export PEER_WORK=$peer_work
run_driver rq "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/rq_bench.py" "$redis_port" "$N" "$PEER_WORKERS" rq.worker.SimpleWorker
