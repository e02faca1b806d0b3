# Adapted from /work/shared/peers/rqtasks.py (RQ task module): the no-op job now records its
# completion time (CLOCK_MONOTONIC) in Redis, list "done:<kind>", as "INDEX TIME".
import time

from rq import get_current_job


def noop(x=None, kind="T"):
    t = time.monotonic()
    get_current_job().connection.rpush("done:" + kind, "%d %.6f" % (x, t))
