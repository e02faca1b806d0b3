#!/usr/bin/python3
"""bench-raft.py - raft cluster benchmarks (docs/benchmarks.md, "Raft"):
starts N raft members on 127.0.0.1 plus one runtime that offers the noop
plugin but grants no credit (min_mem_free_percent=99), so jobs stay queued
and acknowledged submissions are measured alone, then:

  bench-raft.py BUILD submit [--specs N] [--window W] [--members 3]
      durable submission throughput: N one-job JobSpecs, at most W awaiting
      their reply; acked JobSpecs/s = N / (first send -> last ack). An ack
      means the JobSpec is committed on a majority (fsync'd raft log).
  bench-raft.py BUILD e2e [--jobs N] [--members 3]
      end-to-end noop jobs/s through the raft cluster: two runtimes (2
      executors, 64 jobs each queued) run the jobs; `assay-bench run
      --endpoint LEADER --events ITS_EVENTS` (build/bin/assay-bench)
      submits to the leader and counts job.completed events; with --json
      its one JSON object (mode, jobs_per_s, latency_ms, ok, ...).
  bench-raft.py BUILD failover [--kills K] [--members 3]
      a closed loop of submissions through every member while the leader
      is killed (kill -9) K times and restarted; failover time = kill ->
      first acknowledged submission after it. Afterwards every
      acknowledged JobSpec must be in the state (lost = those missing).

--security none runs every node and the driver without security (plain
raft and ZeroMQ links); the default, curve, secures them all.

Needs python3-zmq and python3-msgpack. Everything started is stopped; the
data directories are removed unless --keep. Exit 0 only when nothing
acknowledged was lost and every submission was acknowledged.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import assaykeys  # noqa: E402

MDP = b"MDPC01"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self, build, members, tmp, security="curve"):
        self.build, self.tmp, self.n = build, tmp, members
        self.sec = ["--set", "security=" + security]
        assaykeys.use_dir(os.path.join(tmp, "keys"))
        self.cp = {i: "tcp://127.0.0.1:%d" % free_port()
                   for i in range(1, members + 1)}
        self.ev = {i: "tcp://127.0.0.1:%d" % free_port()
                   for i in range(1, members + 1)}
        self.raft = {i: "127.0.0.1:%d" % free_port()
                     for i in range(1, members + 1)}
        self.procs = {}
        self.members = " ".join("%d@%s" % (i, self.raft[i])
                                for i in range(1, members + 1))

    def start(self, i):
        log = open(os.path.join(self.tmp, "member%d.log" % i), "a")
        self.procs[i] = subprocess.Popen(
            [os.path.join(self.build, "bin/assayd"), "--node-id",
             "member%d" % i, "--executors", "0", "--plugins-dir",
             os.path.join(self.build, "plugins-out"), "--listen", self.cp[i],
             "--events", self.ev[i], "--set", "consensus=raft", "--set",
             "member_id=%d" % i, "--set", "members=" + self.members, "--set",
             "raft_address=" + self.raft[i], "--set",
             "data_dir=" + os.path.join(self.tmp, "member%d" % i),
             "--set", "log_level=warn"] + self.sec,
            stdout=log, stderr=subprocess.STDOUT)

    def start_all(self, working=0):
        """Members, then `working` runtimes that run jobs, or one that
        offers noop but grants no credit."""
        for i in self.cp:
            self.start(i)
        if os.environ.get("ASSAY_SECURITY") != "none":
            assaykeys.wait_made()
        join = " ".join(self.cp.values())
        opts = ["--executors", "1", "--set", "min_mem_free_percent=99"]
        if working:
            opts = ["--executors", "2", "--set", "jobs_per_executor=64"]
        for k in range(max(working, 1)):
            log = open(os.path.join(self.tmp, "runtime%d.log" % k), "a")
            self.procs["rt%d" % k] = subprocess.Popen(
                [os.path.join(self.build, "bin/assayd"), "--node-id",
                 "rt%d" % k, "--set", "log_level=warn", "--plugins-dir",
                 os.path.join(self.build, "plugins-out"), "--join", join]
                + opts + self.sec, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Client:
    """MDP client following redirects; one socket per member."""

    def __init__(self, ctx, endpoints):
        self.ctx, self.endpoints = ctx, list(endpoints)
        self.current, self.sock = 0, None
        self.switch(0)

    def switch(self, i):
        if self.sock is not None:
            self.sock.close(linger=0)
        self.current = i % len(self.endpoints)
        self.sock = self.ctx.socket(zmq.DEALER)
        assaykeys.apply(self.sock)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoints[self.current])

    def call(self, service, body, deadline, wait=0.5):
        while time.monotonic() < deadline:
            self.sock.send_multipart([b"", MDP, service.encode(),
                                      msgpack.packb(body)])
            if not self.sock.poll(int(wait * 1000)):
                self.switch(self.current + 1)
                continue
            reply = msgpack.unpackb(self.sock.recv_multipart()[3], raw=False)
            if reply.get("error") == "ASSAY_ENOTLEADER":
                leader = reply.get("leader")
                if leader in self.endpoints and \
                        leader != self.endpoints[self.current]:
                    self.switch(self.endpoints.index(leader))
                else:
                    time.sleep(0.02)
                    self.switch(self.current + 1)
                continue
            return reply
        return None


def wait_ready(ctx, cluster, timeout=30, runtimes=1):
    """Until a leader serves and `runtimes` live runtimes offer noop."""
    c = Client(ctx, cluster.cp.values())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.call("assay.plugins", {}, deadline)
        if r and r.get("ok") and sum(
                rt.get("alive", True) and
                any(p.get("name") == "noop"
                    for p in (rt.get("catalog") or {}).get("plugins", []))
                for rt in r.get("runtimes", [])) >= runtimes:
            return c
        time.sleep(0.1)
    raise SystemExit("bench-raft: cluster did not come up (logs in %s)"
                     % cluster.tmp)


def spec(i, prefix):
    return {"id": "%s%d" % (prefix, i), "action": "noop.pass"}


def bench_submit(ctx, cluster, args):
    c = wait_ready(ctx, cluster)
    leader = c.endpoints[c.current]
    sock = ctx.socket(zmq.DEALER)
    assaykeys.apply(sock)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(leader)
    sent = acked = errors = 0
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    while acked + errors < args.specs and time.monotonic() < deadline:
        while sent < args.specs and sent - acked - errors < args.window:
            sock.send_multipart([b"", MDP, b"assay.submit",
                                 msgpack.packb(spec(sent, "s"))])
            sent += 1
        if sock.poll(1000):
            reply = msgpack.unpackb(sock.recv_multipart()[3], raw=False)
            if reply.get("ok"):
                acked += 1
            else:
                errors += 1
                if errors == 1:
                    print("bench-raft: first error: %s" % reply.get("message"),
                          file=sys.stderr)
    secs = time.monotonic() - t0
    out = {"members": cluster.n, "specs": args.specs, "window": args.window,
           "acked": acked, "errors": errors, "seconds": round(secs, 3),
           "acked_per_s": round(acked / secs)}
    print(json.dumps(out) if args.json else
          "%d members: %d of %d JobSpecs acknowledged in %.2f s: %d acked "
          "JobSpecs/s (window %d, %d errors)"
          % (cluster.n, acked, args.specs, secs, out["acked_per_s"],
             args.window, errors))
    return 0 if acked == args.specs else 1


def leader_of(ctx, cluster):
    c = Client(ctx, cluster.cp.values())
    r = c.call("assay.cluster", {"op": "status"}, time.monotonic() + 10)
    lead = (r or {}).get("leader") or {}
    for i, ep in cluster.cp.items():
        if ep == lead.get("endpoint"):
            return i
    return None


def assay_bench_run(cluster, lead, extra):
    """`assay-bench run` against the cluster's leader `lead`; its exit
    status (0: every job completed, no submit refused)."""
    return subprocess.call(
        [os.path.join(cluster.build, "bin/assay-bench"), "run", "--endpoint",
         cluster.cp[lead], "--events", cluster.ev[lead], "--security",
         os.environ.get("ASSAY_SECURITY", "curve")] + extra)


def bench_e2e(ctx, cluster, args):
    wait_ready(ctx, cluster, runtimes=2)
    lead = leader_of(ctx, cluster)
    if lead is None:
        print("bench-raft: no leader", file=sys.stderr)
        return 1
    return assay_bench_run(
        cluster, lead,
        ["--jobs", str(args.jobs),
         "--timeout", str(max(1, int(args.timeout)))]
        + (["--json"] if args.json else []))


def bench_failover(ctx, cluster, args):
    c = wait_ready(ctx, cluster)
    acked, times, unacked = [], [], 0
    n = 0
    for k in range(args.kills):
        for _ in range(20):  # a steady stream before the kill
            n += 1
            r = c.call("assay.submit", spec(n, "f"), time.monotonic() + 30)
            if r and r.get("ok"):
                acked.append("f%d" % n)
            else:
                unacked += 1
        victim = leader_of(ctx, cluster)
        if victim is None:
            print("bench-raft: no leader before kill %d" % k, file=sys.stderr)
            return 1
        t_kill = time.monotonic()
        cluster.kill(victim)
        while True:
            n += 1
            r = c.call("assay.submit", spec(n, "f"), time.monotonic() + 30,
                       wait=0.2)
            if r and r.get("ok"):
                acked.append("f%d" % n)
                break
            unacked += 1
            if time.monotonic() - t_kill > 30:
                print("bench-raft: no ack 30 s after kill %d" % k,
                      file=sys.stderr)
                return 1
        times.append(time.monotonic() - t_kill)
        print("kill %d: member %d, failover %.3f s" % (k + 1, victim,
                                                      times[-1]),
              file=sys.stderr)
        cluster.start(victim)
        time.sleep(args.settle)
    lost = [i for i in acked
            if not (c.call("assay.job", {"id": i}, time.monotonic() + 10)
                    or {}).get("ok")]
    out = {"members": cluster.n, "kills": args.kills,
           "failover_s": {"min": round(min(times), 3),
                          "median": round(statistics.median(times), 3),
                          "max": round(max(times), 3)},
           "acked": len(acked), "unacked": unacked, "lost": len(lost)}
    print(json.dumps(out) if args.json else
          "%d members, %d leader kills: failover min %.3f s, median %.3f s, "
          "max %.3f s; %d acknowledged JobSpecs, %d lost"
          % (cluster.n, args.kills, min(times), statistics.median(times),
             max(times), len(acked), len(lost)))
    return 0 if not lost else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("build")
    p.add_argument("mode", choices=("submit", "e2e", "failover"))
    p.add_argument("--jobs", type=int, default=100000)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--specs", type=int, default=100000)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds after restarting a killed member")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--json", action="store_true")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--security", choices=("curve", "none"), default="curve")
    args = p.parse_args()
    os.environ["ASSAY_SECURITY"] = args.security
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="assay-raft-bench.")
    cluster = Cluster(build, args.members, tmp, args.security)
    ctx = zmq.Context()
    try:
        cluster.start_all(2 if args.mode == "e2e" else 0)
        if args.mode == "submit":
            return bench_submit(ctx, cluster, args)
        if args.mode == "e2e":
            return bench_e2e(ctx, cluster, args)
        return bench_failover(ctx, cluster, args)
    finally:
        ctx.destroy(linger=0)
        cluster.stop()
        if args.keep:
            print("bench-raft: logs and data in %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
