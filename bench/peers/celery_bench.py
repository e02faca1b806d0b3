# Adapted from /work/shared/peers/celery_bench.py (Celery + Redis no-op driver): same broker and
# worker options, plus a warm-up instead of a fixed sleep, per-job completion times and an
# open-loop latency phase (bench/peers/peerstats.py).
# Usage: /usr/bin/python3 celery_bench.py PORT N WORKERS POOL  -> one JSON line
# Env: ACKSLATE=1 (task_acks_late), PEER_WORK (logs directory).
import os
import signal
import subprocess
import sys

import redis

import peerstats as ps

port, N, W, pool = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
here = os.path.dirname(os.path.abspath(__file__))
work = os.environ.get("PEER_WORK", ".")
os.environ["BPORT"] = str(port)
os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
sys.path.insert(0, here)
r = redis.Redis(host="127.0.0.1", port=port)
r.flushall()
r1 = redis.Redis(host="127.0.0.1", port=port, db=1)
import ctasks  # noqa: E402


times, wait_count = ps.redis_done_lists(r1)

wk = subprocess.Popen(
    ["/usr/bin/python3", "-m", "celery", "-A", "ctasks", "worker", "-P", pool,
     "-c", str(W), "--loglevel", "WARNING", "--without-gossip",
     "--without-mingle", "--without-heartbeat"],
    cwd=work, env=dict(os.environ), stdout=open(os.path.join(work, "celery_worker.log"), "a"),
    stderr=subprocess.STDOUT, start_new_session=True)
rc = 1
try:
    rc = ps.measure("celery_bench", N, W, ctasks.noop.delay, times,
                    wait_count)
finally:
    wk.terminate()
    try:
        wk.wait(timeout=15)
    except subprocess.TimeoutExpired:
        wk.kill()
        wk.wait()
    try:  # prefork children left behind, if any: the worker's own group
        os.killpg(wk.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
sys.exit(rc)
