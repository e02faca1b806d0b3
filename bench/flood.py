#!/usr/bin/python3
"""flood.py - hostile peers against one member (docs/benchmarks.md, "Peers
that flood a member"): starts `assayd` of BUILD (consensus none, in
memory, no executors) on 127.0.0.1, and a prober that asks `mmi.service`
every 2 ms. Each flood reports the member's RSS growth and the prober's
longest and 99th-percentile wait while it lasts: the longest wait is how
long the member's loop was held (or how long a request queued behind
the flood).

  flood.py BUILD subs [--n 40000]
      one subscriber sends N distinct subscriptions, then a fake runtime
      registers (one event, matched against all of them)
  flood.py BUILD maps [--n 30]
      N requests whose body is 1 MiB of empty msgpack maps (a million
      values each), with max_message_kb raised to 2048 so that they arrive
  flood.py BUILD jobs [--n 100000]
      a fake runtime offers fake.run without credit, N jobs are queued
      (JobSpecs of 10,000), then `assay.jobs` with limit 100000 and limit 1
      (reply sizes and the prober's waits)
  flood.py BUILD catalog [--n 30]
      N fake runtimes register distinct catalogues of ~1 MiB each (1,000
      actions: over the caps since issue 13, so refused)
  flood.py BUILD lazy [--n 20000] [--reader]
      a subscriber to job.completed reads nothing (its SUB holds one
      message); a fake runtime completes N jobs with 12.5 KB results, so
      N job.completed events of ~12.5 KB are published (the member keeps
      1,000 finished jobs, retain_jobs, so that the results it stores do
      not hide what it holds for the subscriber); RSS is read 2 s
      after the last result (--reader: the subscriber reads everything,
      the baseline of what the stored results cost)

  flood.py BUILD handshakes [--n 500] [--security none]
      not a flood: N clients one after another, each on a fresh
      connection (a CURVE handshake checked by the member's ZAP handler)
      asking mmi.service once; handshakes_per_s is what the member
      accepts (--security none: the same without CURVE, the baseline)

Prints one JSON object per run. Needs python3-zmq and python3-msgpack.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import assaykeys  # noqa: E402

MDP = b"MDPC01"
RT = b"ASSAYR1"


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Member:
    def __init__(self, build, extra):
        self.ep = "tcp://127.0.0.1:%d" % port()
        self.ev = "tcp://127.0.0.1:%d" % port()
        self.log = tempfile.NamedTemporaryFile(prefix="flood-", suffix=".log")
        # Its keys in a directory of this run; the flooding peers present
        # the operator's: hostile, but let in (what is bounded is what an
        # authenticated peer can make a member hold).
        self.keys = tempfile.TemporaryDirectory(prefix="flood-keys-")
        assaykeys.use_dir(self.keys.name)
        args = [os.path.join(build, "bin", "assayd"), "--node-id", "m1",
                "--executors", "0", "--listen", self.ep, "--events", self.ev,
                "--set", "log_level=warn"] + extra
        self.p = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        if "security=none" not in extra:
            assaykeys.wait_made()
        self.ctx = zmq.Context()
        self.cli = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.call(self.cli, "mmi.service", b"assay.submit", 0.5):
                return
        raise SystemExit("member did not start")

    def client(self):
        s = self.ctx.socket(zmq.DEALER)
        assaykeys.apply(s)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.ep)
        return s

    @staticmethod
    def call(sock, service, body, wait_s=30.0):
        sock.send_multipart([b"", MDP, service.encode(), body])
        if not sock.poll(int(wait_s * 1000)):
            return None
        return sock.recv_multipart()[-1]

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.ctx.destroy(linger=0)


class Prober(threading.Thread):
    """Asks mmi.service every 2 ms on its own socket; keeps every wait."""

    def __init__(self, member):
        super().__init__(daemon=True)
        self.sock = member.client()
        self.waits, self.stop_at = [], None
        self.running = True

    def run(self):
        while self.running:
            t0 = time.monotonic()
            if Member.call(self.sock, "mmi.service", b"assay.submit",
                           60) is None:
                self.waits.append(60.0)
            self.waits.append(time.monotonic() - t0)
            time.sleep(0.002)

    def finish(self):
        self.running = False
        self.join(70)
        w = sorted(self.waits) or [0.0]
        return {"probes": len(w), "longest_wait_ms": round(w[-1] * 1e3, 1),
                "p99_wait_ms": round(w[int(len(w) * 0.99)] * 1e3, 2)}


def fake_runtime(m, rid, catalog, labels=None):
    s = m.ctx.socket(zmq.DEALER)
    assaykeys.apply(s)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(m.ep)
    body = msgpack.packb({"id": rid, "heartbeat_ms": 600000,
                          "labels": labels or {}, "catalog": catalog})
    s.send_multipart([b"", RT, b"register", body])
    return s


FAKE = {"plugins": [{"name": "fake", "version": "1.0.0",
                     "actions": [{"name": "run"}]}]}


def submit_fake(m, n, per):
    """n fake.run jobs, in JobSpecs of `per`."""
    for k in range(n // per):
        spec = {"id": "s%d" % k, "action": "fake.run",
                "targets": [{} for _ in range(per)]}
        r = m.call(m.cli, "assay.submit", msgpack.packb(spec), 120)
        if r is None or not msgpack.unpackb(r).get("ok"):
            raise SystemExit("submit failed: %r" % r)


def flood_subs(m, a):
    s = m.ctx.socket(zmq.SUB)
    assaykeys.apply(s)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 0)  # every subscription reaches the member
    s.connect(m.ev)
    time.sleep(0.2)
    for i in range(a.n):
        s.setsockopt(zmq.SUBSCRIBE, b"x%d." % i)
    s.setsockopt(zmq.SUBSCRIBE, b"runtime.")
    time.sleep(1)  # until the member has read them
    rt = fake_runtime(m, "rt1", FAKE)
    got = s.poll(30000)
    rt.close()
    return {"subscriptions": a.n, "event_seen": bool(got)}


def flood_maps(m, a):
    body = b"\xdd" + (1 << 20).to_bytes(4, "big") + b"\x80" * (1 << 20)
    sock = m.client()
    for _ in range(a.n):
        sock.send_multipart([b"", MDP, b"assay.submit", body])
    replies = 0
    while replies < a.n and sock.poll(120000):
        sock.recv_multipart()
        replies += 1
    return {"messages": a.n, "bytes_each": len(body), "replies": replies}


def flood_jobs(m, a):
    rt = fake_runtime(m, "rt1", FAKE)
    rt.poll(10000)
    submit_fake(m, a.n, 10000)
    out = {"jobs": a.n}
    for limit in (100000, 1):
        pr = Prober(m)
        pr.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        r = m.call(m.cli, "assay.jobs", msgpack.packb({"limit": limit}), 120)
        took = time.monotonic() - t0
        time.sleep(0.2)
        res = pr.finish()
        d = msgpack.unpackb(r)
        out["limit_%d" % limit] = dict(
            res, reply_ms=round(took * 1e3, 1), reply_bytes=len(r),
            jobs_in_reply=len(d.get("jobs", [])), total=d.get("total"))
    return out


def flood_catalog(m, a):
    socks = []
    for i in range(a.n):
        actions = [{"name": "a%d" % k, "doc": "%d-%d" % (i, k) + "d" * 1000}
                   for k in range(1000)]
        cat = {"plugins": [{"name": "p%d" % i, "version": "1.0.0",
                            "actions": actions}]}
        socks.append(fake_runtime(m, "big%d" % i, cat))
    time.sleep(3)
    r = msgpack.unpackb(m.call(m.cli, "assay.runtimes", msgpack.packb({})))
    return {"registrations": a.n,
            "registered": len(r.get("runtimes", []))}


def flood_lazy(m, a):
    lazy = m.ctx.socket(zmq.SUB)
    assaykeys.apply(lazy)
    lazy.setsockopt(zmq.LINGER, 0)
    lazy.setsockopt(zmq.RCVHWM, 1)
    lazy.setsockopt(zmq.RCVBUF, 4096)
    lazy.setsockopt(zmq.SUBSCRIBE, b"job.completed")
    lazy.setsockopt(zmq.SUBSCRIBE, b"assay.welcome")
    lazy.connect(m.ev)
    if not lazy.poll(10000):
        raise SystemExit("no welcome")
    lazy.recv_multipart()  # and then nothing more, unless --reader
    if a.reader:
        drained = [0]

        def drain():
            while lazy.poll(3000):
                lazy.recv_multipart()
                drained[0] += 1
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
    rt = fake_runtime(m, "rt1", FAKE)
    rt.poll(10000)
    rt.recv_multipart()  # registered
    submit_fake(m, a.n, 1000)
    out = "x" * 12500
    done = 0
    deadline = time.monotonic() + 120
    while done < a.n and time.monotonic() < deadline:
        rt.send_multipart([b"", RT, b"heartbeat", msgpack.packb(
            {"id": "rt1", "limit": done + 1000, "mem_available_mb": 1000,
             "why": ""})])
        while rt.poll(200):
            f = rt.recv_multipart()
            if f[2] != b"dispatch":
                continue
            jobs = msgpack.unpackb(f[3]).get("jobs", [])
            res = [{"job": j["job"], "attempt": j["attempt"],
                    "result": {"status": "pass", "message": "",
                               "output": out}} for j in jobs]
            for i in range(0, len(res), 50):
                rt.send_multipart([b"", RT, b"result", msgpack.packb(
                    {"id": "rt1", "results": res[i:i + 50]})])
            done += len(res)
    time.sleep(2)
    rt.close()
    out = {"events": a.n, "completed": done, "event_kb": 12.5,
           "subscriber": "reads" if a.reader else "never reads"}
    if a.reader:
        reader.join(10)
        out["events_read"] = drained[0]
    return out


def flood_handshakes(m, a):
    t0 = time.monotonic()
    for _ in range(a.n):
        s = m.client()
        if Member.call(s, "mmi.service", b"assay.submit", 10) != b"200":
            raise SystemExit("a handshake or its request failed")
        s.close(linger=0)
    secs = time.monotonic() - t0
    return {"handshakes": a.n, "handshakes_per_s": round(a.n / secs, 1),
            "security": a.security}


FLOODS = {"subs": (flood_subs, 40000, []),
          "handshakes": (flood_handshakes, 500, []),
          "maps": (flood_maps, 30, ["--set", "max_message_kb=2048"]),
          "jobs": (flood_jobs, 100000, []),
          "catalog": (flood_catalog, 30, ["--set", "max_message_kb=2048"]),
          "lazy": (flood_lazy, 20000, ["--set", "retain_jobs=1000"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("flood", choices=sorted(FLOODS))
    ap.add_argument("--n", type=int)
    ap.add_argument("--security", choices=("curve", "none"),
                    default="curve")
    ap.add_argument("--reader", action="store_true",
                    help="lazy: the subscriber reads (the baseline)")
    a = ap.parse_args()
    fn, default_n, extra = FLOODS[a.flood]
    a.n = a.n or default_n
    os.environ["ASSAY_SECURITY"] = a.security
    m = Member(a.build, extra + ["--set", "security=" + a.security])
    try:
        before = rss_kb(m.p.pid)
        pr = Prober(m) if a.flood not in ("jobs", "lazy") else None
        if pr:
            pr.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        out = fn(m, a)
        out["seconds"] = round(time.monotonic() - t0, 2)
        if pr:
            time.sleep(0.2)
            out.update(pr.finish())
        out.update(flood=a.flood, build=a.build,
                   rss_before_mb=round(before / 1024, 1),
                   rss_after_mb=round(rss_kb(m.p.pid) / 1024, 1))
        print(json.dumps(out))
    finally:
        m.stop()


if __name__ == "__main__":
    sys.exit(main())
