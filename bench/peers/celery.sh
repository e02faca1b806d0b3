#!/bin/bash
# bench/peers/celery.sh MODE [N] - Celery (prefork pool, PEER_WORKERS
# processes) with a Redis broker, N no-op tasks; MODE: memory (Redis
# without persistence, early ack) | fsync (Redis appendfsync always,
# task_acks_late). Method from /work/shared/peers/README.md; driver
# celery_bench.py + ctasks.py.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
MODE=${1:-memory}
N=${2:-20000}
case $MODE in
memory) PEER_DURABILITY=memory; export ACKSLATE=0 ;;
fsync) PEER_DURABILITY="fsync each write"; export ACKSLATE=1 ;;
*) echo "usage: $0 memory|fsync [N]" >&2; exit 2 ;;
esac
peer_init "celery-$MODE"
need_pkgs python3-celery python3-redis redis-server
start_redis "$MODE" || { json_line celery "$PEER_DURABILITY" "$N" "" "redis-server did not start"; exit 1; }
ver=$("$PY" -c 'import celery; print(celery.__version__)')
ack=early; [ "$ACKSLATE" = 1 ] && ack=acks_late
notes="Celery $ver ($ack, prefork -c $PEER_WORKERS, prefetch 4), $redis_notes; python client, 1 delay() per task"
export PEER_WORK=$peer_work
run_driver celery "$PEER_DURABILITY" "$notes" \
    "$PY" "$PEERS_DIR/celery_bench.py" "$redis_port" "$N" "$PEER_WORKERS" prefork
