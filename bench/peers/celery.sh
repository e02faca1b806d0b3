#!/bin/bash
# bench/peers/celery.sh MODE [N] - Celery (prefork pool, PEER_WORKERS
# processes) with a Redis broker, N no-op tasks; MODE: memory (Redis
# without persistence, early ack) | fsync (Redis appendfsync always,
# task_acks_late). Method from /work/shared/peers/README.md; driver
# celery_bench.py + ctasks.py.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
peer_args celery "${1:-}" "${2:-}" memory memory fsync "fsync each write"
# fsync mode acknowledges a task only once it has run (task_acks_late).
ACKSLATE=0
if [ "$MODE" = fsync ]; then ACKSLATE=1; fi
export ACKSLATE
need_pkgs python3-celery python3-redis redis-server
start_redis "$MODE" || { json_line celery "$PEER_DURABILITY" "$N" "" "redis-server did not start"; exit 1; }
ver=$("$PY" -c 'import celery; print(celery.__version__)')
ack=early; [ "$ACKSLATE" = 1 ] && ack=acks_late
notes="Celery $ver ($ack, prefork -c $PEER_WORKERS, prefetch 4), $redis_notes; python client, 1 delay() per task"
export PEER_WORK=$peer_work
run_driver celery "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/celery_bench.py" "$redis_port" "$N" "$PEER_WORKERS" prefork
