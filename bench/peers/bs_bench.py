# Adapted from /work/shared/peers/bs_bench.py (beanstalkd no-op driver): same protocol use (put; reserve + delete),
# plus per-job completion times and an open-loop latency phase (bench/peers/peerstats.py).
# Usage: /usr/bin/python3 bs_bench.py PORT N WORKERS  -> one JSON line
import multiprocessing as mp
import socket
import sys
import time

import peerstats as ps

HOST, PORT = "127.0.0.1", int(sys.argv[1])
N, W = int(sys.argv[2]), int(sys.argv[3])


def conn():
    s = socket.create_connection((HOST, PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, s.makefile("rb")


def worker(tput, lat, warm):
    """Runs jobs until it reserves an "X" job; a job's completion time is
    taken after its DELETED."""
    s, f = conn()
    arrays = {b"T": tput, b"L": lat, b"W": warm}
    deadline = time.time() + 600
    while time.time() < deadline:
        s.sendall(b"reserve-with-timeout 1\r\n")
        line = f.readline()
        if line.startswith(b"TIMED_OUT"):
            continue
        _, jid, ln = line.split()
        body = f.read(int(ln) + 2)[:-2]
        s.sendall(b"delete " + jid + b"\r\n")
        assert f.readline() == b"DELETED\r\n"
        t = time.monotonic()
        if body == b"X":
            break
        kind, idx = body.split(b" ")
        arrays[kind][int(idx)] = t


def main():
    tput = mp.RawArray("d", N)
    lat = mp.RawArray("d", max(ps.LAT_JOBS, 1))
    warm = mp.RawArray("d", W)
    ws = [mp.Process(target=worker, args=(tput, lat, warm)) for _ in range(W)]
    for w in ws:
        w.start()
    s, f = conn()

    def put(body):
        s.sendall(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
        r = f.readline()
        assert r.startswith(b"INSERTED"), r

    def all_done(arr, n):
        return arr[:n].count(0.0) == 0

    try:
        for i in range(W):  # warm-up: workers connected and serving
            put(b"W %d" % i)
        ps.wait_until(lambda: all_done(warm, W), time.monotonic() + 15)
        time.sleep(0.2)

        t0 = time.monotonic()
        for i in range(N):
            put(b"T %d" % i)
        t_sub = time.monotonic() - t0
        ps.wait_until(lambda: all_done(tput, N), time.monotonic() + 300)
        v = tput[:]
        done = N - v.count(0.0)

        sched = done_l = None
        lag = lsecs = 0.0
        rate, L = ps.lat_plan(done / (max(v) - t0) if done == N else 0)
        if L > 0:
            l0, lag, lsecs = ps.pace(L, rate, lambda i: put(b"L %d" % i))
            ps.wait_until(lambda: all_done(lat, L), time.monotonic() + 120)
            sched = [l0 + i / rate for i in range(L)]
            done_l = lat[:L]
        return ps.result(N, done, t0, max(v), t_sub, sched, done_l, lag,
                         lsecs, extra={"workers": W}, lat_rate=rate)
    finally:
        for _ in ws:
            put(b"X")
        for w in ws:
            w.join(5)
            if w.is_alive():
                w.kill()
                w.join()


if __name__ == "__main__":
    sys.exit(main())
