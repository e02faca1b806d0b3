# Adapted from /work/shared/peers/rq_bench.py (RQ + Redis no-op driver): same enqueue (result_ttl=0)
# and worker class, but the W workers are started (and warmed up) before the jobs are enqueued,
# as for the other systems, plus per-job completion times and an open-loop latency phase.
# Usage: /usr/bin/python3 rq_bench.py PORT N WORKERS WORKER_CLASS  -> one JSON line
import os
import signal
import subprocess
import sys
import time

from redis import Redis
from rq import Queue

import peerstats as ps

port, N, W, wclass = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
here = os.path.dirname(os.path.abspath(__file__))
work = os.environ.get("PEER_WORK", ".")
sys.path.insert(0, here)
env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
r = Redis(host="127.0.0.1", port=port)
r.flushall()
q = Queue("bench", connection=r)
import rqtasks  # noqa: E402


def times(kind, n):
    v = [0.0] * n
    for e in r.lrange("done:" + kind, 0, -1):
        i, t = e.split()
        v[int(i)] = float(t)
    return v


def wait_count(kind, n, secs):
    return ps.wait_until(lambda: r.llen("done:" + kind) >= n, time.monotonic() + secs)


def enqueue(i, kind):
    q.enqueue(rqtasks.noop, i, kind, result_ttl=0)


log = open(os.path.join(work, "rq_worker.log"), "a")
ws = [subprocess.Popen(["/usr/bin/python3", "-m", "rq.cli", "worker", "-q", "-w", wclass,
                        "--url", f"redis://127.0.0.1:{port}", "bench"],
                       cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                       start_new_session=True) for _ in range(W)]
rc = 1
try:
    for i in range(W):
        enqueue(i, "W")
    if not wait_count("W", W, 60):
        raise SystemExit("rq_bench: workers did not serve the warm-up in 60 s")
    time.sleep(0.2)

    t0 = time.monotonic()
    for i in range(N):
        enqueue(i, "T")
    tsub = time.monotonic() - t0
    wait_count("T", N, 300)
    v = times("T", N)
    done = N - v.count(0.0)
    last = max(v)

    rate, L = ps.lat_plan(done / (last - t0) if done == N else 0)
    sched = done_l = None
    lag = lsecs = 0.0
    if L > 0:
        l0, lag, lsecs = ps.pace(L, rate, lambda i: enqueue(i, "L"))
        wait_count("L", L, 120)
        sched = [l0 + i / rate for i in range(L)]
        done_l = times("L", L)
    rc = ps.result(N, done, t0, last, tsub, sched, done_l, lag, lsecs,
                   extra={"workers": W}, lat_rate=rate)
finally:
    for w in ws:
        w.terminate()
    for w in ws:
        try:
            w.wait(timeout=10)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
        try:  # a work horse left behind, if any: the worker's own group
            os.killpg(w.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
sys.exit(rc)
