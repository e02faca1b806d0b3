# Adapted from /work/shared/peers/rq_bench.py (RQ + Redis no-op driver): same enqueue (result_ttl=0)
# and worker class, but the W workers are started (and warmed up) before the jobs are enqueued,
# as for the other systems, plus per-job completion times and an open-loop latency phase.
# Usage: /usr/bin/python3 rq_bench.py PORT N WORKERS WORKER_CLASS  -> one JSON line
import os
import signal
import subprocess
import sys

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


times, wait_count = ps.redis_done_lists(r)


def enqueue(i, kind):
    q.enqueue(rqtasks.noop, i, kind, result_ttl=0)


log = open(os.path.join(work, "rq_worker.log"), "a")
ws = [subprocess.Popen(["/usr/bin/python3", "-m", "rq.cli", "worker", "-q", "-w", wclass,
                        "--url", f"redis://127.0.0.1:{port}", "bench"],
                       cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                       start_new_session=True) for _ in range(W)]
rc = 1
try:
    rc = ps.measure("rq_bench", N, W, enqueue, times, wait_count)
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
