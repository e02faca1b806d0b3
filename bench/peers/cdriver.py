# Runs a peer driver written in C (gm_bench.c, bs_bench.c) and turns its raw
# figures into the JSON line (bench/peers/peerstats.py).
# Usage: cdriver.py BINARY PORT N WORKERS [EXTRA...]  (EXTRA: the driver's
# arguments after MAX_LAT_JOBS, e.g. bs_bench's INFLIGHT)
import os
import subprocess
import sys

import peerstats as ps

binary, port, n, w = sys.argv[1:5]
extra = sys.argv[5:]
name = os.path.basename(binary)
p = subprocess.Popen([binary, port, n, w, str(ps.LAT_JOBS)] + extra,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
tp = p.stdout.readline().split()
if not tp or tp[0] != "tput":
    p.stdin.close()
    print("cdriver.py: %s exited %d without figures" % (name, p.wait()),
          file=sys.stderr)
    sys.exit(1)
N, done = int(tp[1]), int(tp[2])
t0, last, tsub = map(float, tp[3:6])
rate, L = ps.lat_plan(done / (last - t0) if done == N else 0)
p.stdin.write("%r %d\n" % (rate, L))
p.stdin.close()
rest = p.stdout.read().split("\n")
rc = p.wait()
sched = done_l = None
lag = lsecs = 0.0
if rest and rest[0].startswith("lat"):
    _, L, l0, lag, lsecs = rest[0].split()
    L, l0, lag, lsecs = int(L), float(l0), float(lag), float(lsecs)
    sched = [l0 + i / rate for i in range(L)]
    done_l = [float(x) for x in rest[1:1 + L]]
rc2 = ps.result(N, done, t0, last, tsub, sched, done_l, lag, lsecs,
                extra=dict({"workers": int(w)},
                           **({"in_flight": int(extra[0])} if extra else {})),
                lat_rate=rate)
sys.exit(rc2 or (1 if rc else 0))
