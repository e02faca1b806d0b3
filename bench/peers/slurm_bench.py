# Slurm no-op job driver for bench/peers/slurm.sh (method from /work/shared/peers/README.md: Slurm single
# node). Each job is one `sbatch --wrap` (a batch job running a one-line shell script that appends
# "KIND INDEX TIME" to a file); completion time = that line's `date +%s.%N` (CLOCK_REALTIME, so the
# driver uses time.time() here). Usage: slurm_bench.py DONE_FILE N  (SLURM_CONF set) -> one JSON line
import os
import subprocess
import sys
import time

import peerstats as ps

done_file, N = sys.argv[1], int(sys.argv[2])
LAT_MAX = int(os.environ.get("PEER_SLURM_LAT_JOBS", "20"))


def submit(kind, i):
    subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-e", "/dev/null",
                    "-J", "noop", "--wrap",
                    'echo "%s %d $(date +%%s.%%N)" >> %s' % (kind, i, done_file)],
                   check=True, stdout=subprocess.DEVNULL)


def times(kind, n):
    v = [0.0] * n
    try:
        with open(done_file) as f:
            for line in f:
                k, i, t = line.split()
                if k == kind and int(i) < n:
                    v[int(i)] = float(t)
    except FileNotFoundError:
        pass
    return v


def wait_all(kind, n, secs):
    end = time.time() + secs
    while time.time() < end:
        if times(kind, n).count(0.0) == 0:
            return
        time.sleep(0.2)


t0 = time.time()
for i in range(N):
    submit("T", i)
tsub = time.time() - t0
wait_all("T", N, 300)
v = times("T", N)
done = N - v.count(0.0)
last = max(v)

rate, L = ps.lat_plan(done / (last - t0) if done == N else 0)
L = min(L, LAT_MAX)
sched = done_l = None
lag = lsecs = 0.0
if L > 0:
    # ps.pace keeps CLOCK_MONOTONIC; shift to CLOCK_REALTIME once
    shift = time.time() - time.monotonic()
    l0, lag, lsecs = ps.pace(L, rate, lambda i: submit("L", i))
    l0 += shift
    wait_all("L", L, 120)
    sched = [l0 + i / rate for i in range(L)]
    done_l = times("L", L)
sys.exit(ps.result(N, done, t0, last, tsub, sched, done_l, lag, lsecs,
                   extra={"workers": 2}, lat_rate=rate))
