# Adapted from /work/shared/peers/celery_bench.py (Celery + Redis no-op driver): same broker and
# worker options, plus a warm-up instead of a fixed sleep, per-job completion times and an
# open-loop latency phase (bench/peers/peerstats.py).
# Usage: /usr/bin/python3 celery_bench.py PORT N WORKERS POOL  -> one JSON line
# Env: ACKSLATE=1 (task_acks_late), PEER_WORK (logs directory).
import os
import signal
import subprocess
import sys
import time

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


def times(kind, n):
    v = [0.0] * n
    for e in r1.lrange("done:" + kind, 0, -1):
        i, t = e.split()
        v[int(i)] = float(t)
    return v


def wait_count(kind, n, secs):
    return ps.wait_until(lambda: r1.llen("done:" + kind) >= n,
                         time.monotonic() + secs)


wk = subprocess.Popen(
    ["/usr/bin/python3", "-m", "celery", "-A", "ctasks", "worker", "-P", pool,
     "-c", str(W), "--loglevel", "WARNING", "--without-gossip",
     "--without-mingle", "--without-heartbeat"],
    cwd=work, env=dict(os.environ), stdout=open(os.path.join(work, "celery_worker.log"), "a"),
    stderr=subprocess.STDOUT, start_new_session=True)
rc = 1
try:
    for i in range(W):
        ctasks.noop.delay(i, "W")
    if not wait_count("W", W, 60):
        raise SystemExit("celery_bench: worker did not serve the warm-up in 60 s")
    time.sleep(0.2)

    t0 = time.monotonic()
    for i in range(N):
        ctasks.noop.delay(i, "T")
    tsub = time.monotonic() - t0
    wait_count("T", N, 300)
    v = times("T", N)
    done = N - v.count(0.0)
    last = max(v)

    rate, L = ps.lat_plan(done / (last - t0) if done == N else 0)
    sched = done_l = None
    lag = lsecs = 0.0
    if L > 0:
        l0, lag, lsecs = ps.pace(L, rate, lambda i: ctasks.noop.delay(i, "L"))
        wait_count("L", L, 120)
        sched = [l0 + i / rate for i in range(L)]
        done_l = times("L", L)
    rc = ps.result(N, done, t0, last, tsub, sched, done_l, lag, lsecs,
                   extra={"workers": W}, lat_rate=rate)
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
