# Adapted from /work/shared/peers/ctasks.py (Celery task module): the no-op task now records
# its completion time (CLOCK_MONOTONIC) in Redis db 1, list "done:<kind>", as "INDEX TIME".
import os
import time

import redis
from celery import Celery

PORT = int(os.environ.get("BPORT", "26379"))
app = Celery("ctasks", broker=f"redis://127.0.0.1:{PORT}/0")
app.conf.update(task_ignore_result=True,
                worker_prefetch_multiplier=int(os.environ.get("PREFETCH", "4")),
                task_acks_late=os.environ.get("ACKSLATE", "0") == "1",
                worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)
_r = None


@app.task
def noop(i, kind="T"):
    global _r
    t = time.monotonic()
    if _r is None:
        _r = redis.Redis(host="127.0.0.1", port=PORT, db=1)
    _r.rpush("done:" + kind, "%d %.6f" % (i, t))
