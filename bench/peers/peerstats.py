# bench/peers/peerstats.py - what the peer drivers share: the open-loop
# pacing, percentiles and the one JSON line. Drivers adapted from
# /work/shared/peers (see each driver's first line).
#
# Two phases per run, as `assay-bench run` (bench/assay-bench/run.c) measures
# Assay:
#   throughput: N no-op jobs submitted one per request as fast as the
#     client goes; jobs/s = completed / (first submit -> last completion);
#   latency: PEER_LAT_JOBS jobs offered open loop at PEER_RATE/s (job i is
#     sent at t0 + i/rate whatever the server does); latency = completion
#     time - *scheduled* send time (no coordinated omission), percentiles
#     by nearest rank as assay-bench's. A system whose throughput phase
#     reached less than 1.5 x PEER_RATE would only measure its own backlog
#     there (a figure that grows with PEER_LAT_JOBS): it is offered half its
#     measured throughput instead, for as many seconds (lat_plan), and the
#     JSON line says so ("lat_rate").
# Completion time is taken where the worker finished the job (after its
# ack/delete/return), with time.monotonic() (CLOCK_MONOTONIC, one clock for
# every process on the machine). Assay's is the client receiving the
# job.completed event, one hop later.
import json
import math
import os
import signal
import sys
import time

# `timeout` stops a driver with SIGTERM: leave through the finally blocks
# that stop the workers.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


LAT_JOBS = env_int("PEER_LAT_JOBS", 3000)
RATE = env_float("PEER_RATE", 1000)


def lat_plan(jobs_per_s):
    """(rate, jobs) of the latency phase after a throughput phase that
    reached jobs_per_s."""
    if LAT_JOBS <= 0 or not jobs_per_s:
        return 0.0, 0
    if jobs_per_s >= 1.5 * RATE:
        return RATE, LAT_JOBS
    rate = float("%.2g" % (jobs_per_s / 2))
    return rate, min(LAT_JOBS, max(50, int(round(LAT_JOBS * rate / RATE))))


def pct(sorted_v, p):
    """Nearest rank, as assay-bench's s_pct_ms."""
    n = len(sorted_v)
    if not n:
        return None
    r = max(1, int(math.ceil(p / 100.0 * n)))
    return sorted_v[r - 1]


def r3(x):
    return None if x is None else round(x, 3)


def pace(n, rate, send):
    """Calls send(i) for i in 0..n-1 at t0 + i/rate; returns (t0, max lag
    in s, seconds from first to last send)."""
    t0 = time.monotonic()
    lag = 0.0
    for i in range(n):
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            lag = max(lag, -d)
        send(i)
    return t0, lag, time.monotonic() - t0


def wait_until(pred, deadline, step=0.02):
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def result(n, done, t0, t_last, t_submit, lat_sched=None, lat_done=None,
           lat_lag=0.0, lat_secs=None, notes="", extra=None, lat_rate=None):
    """The JSON line. lat_sched[i] / lat_done[i]: scheduled send time and
    completion time of latency job i (0 or None: not completed)."""
    secs = (t_last - t0) if done and t_last and t_last > t0 else None
    out = {
        "system": os.environ.get("PEER_SYSTEM", "?"),
        "durability": os.environ.get("PEER_DURABILITY", "?"),
        "jobs": n,
        "jobs_per_s": round(done / secs, 1) if secs else None,
        "p50_ms": None,
        "p99_ms": None,
        "notes": os.environ.get("PEER_NOTES", "") + (
            ("; " + notes) if notes else ""),
        "completed": done,
        "seconds": r3(secs),
        "submit_per_s": round(n / t_submit, 1) if t_submit else None,
    }
    if lat_sched is not None:
        v = sorted((d - s) * 1e3 for s, d in zip(lat_sched, lat_done) if d)
        offered = (len(lat_sched) - 1) / lat_secs if lat_secs else None
        out.update({
            "p50_ms": r3(pct(v, 50)), "p99_ms": r3(pct(v, 99)),
            "lat_jobs": len(lat_sched), "lat_completed": len(v),
            "lat_rate": lat_rate or RATE, "lat_offered_per_s": r3(offered),
            "p90_ms": r3(pct(v, 90)), "max_ms": r3(v[-1] if v else None),
            "max_send_lag_ms": r3(lat_lag * 1e3),
        })
        if (lat_rate or RATE) != RATE:
            out["notes"] += ("; p50/p99 at %g jobs/s offered (half its "
                             "throughput), not %g" % (lat_rate, RATE))
    elif LAT_JOBS > 0:
        out["notes"] += "; no latency phase (throughput phase incomplete)"
    if extra:
        out.update(extra)
    ok = done == n and (lat_sched is None or out["lat_completed"] ==
                        len(lat_sched))
    if not ok:
        out["error"] = "incomplete: %d of %d jobs%s" % (
            done, n, "" if lat_sched is None else ", %d of %d latency jobs" % (
                out["lat_completed"], len(lat_sched)))
    print(json.dumps(out), flush=True)
    return 0 if ok else 1


def redis_done_lists(conn):
    """times(kind, n) and wait_count(kind, n, secs) over the Redis lists
    done:KIND to which the no-op tasks append "i completion_time"."""
    def times(kind, n):
        v = [0.0] * n
        for e in conn.lrange("done:" + kind, 0, -1):
            i, t = e.split()
            v[int(i)] = float(t)
        return v

    def wait_count(kind, n, secs):
        return wait_until(lambda: conn.llen("done:" + kind) >= n,
                          time.monotonic() + secs)
    return times, wait_count


def measure(name, n, workers, submit, times, wait_count):
    """Warm-up (one job per worker), the throughput phase, then the latency
    phase, for a driver whose submit(i, kind) enqueues job i of phase kind
    ("W", "T", "L") and whose completions times()/wait_count() read back.
    Returns result()'s exit code."""
    for i in range(workers):
        submit(i, "W")
    if not wait_count("W", workers, 60):
        raise SystemExit("%s: workers did not serve the warm-up in 60 s"
                         % name)
    time.sleep(0.2)

    t0 = time.monotonic()
    for i in range(n):
        submit(i, "T")
    tsub = time.monotonic() - t0
    wait_count("T", n, 300)
    v = times("T", n)
    done = n - v.count(0.0)
    last = max(v)

    rate, lat_n = lat_plan(done / (last - t0) if done == n else 0)
    sched = done_l = None
    lag = lsecs = 0.0
    if lat_n > 0:
        l0, lag, lsecs = pace(lat_n, rate, lambda i: submit(i, "L"))
        wait_count("L", lat_n, 120)
        sched = [l0 + i / rate for i in range(lat_n)]
        done_l = times("L", lat_n)
    return result(n, done, t0, last, tsub, sched, done_l, lag, lsecs,
                  extra={"workers": workers}, lat_rate=rate)
