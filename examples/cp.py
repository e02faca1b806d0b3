#!/usr/bin/python3
"""cp.py - a minimal third-party control plane for Assay, written from
docs/protocol.md alone. Needs only python3-zmq and python3-msgpack.

  cp.py [--endpoint EP[,EP...]] [--events EP] [--timeout S] [--poll S]
        SPEC.json
      submits the JobSpec, waits until every job has ended, prints one
      line per job; exit 0 all passed, 1 a check did not pass, 2 error.
      With several members it follows "not the leader" redirects and
      tries the next member when one stays silent (a leader change).
      It submits once the member's welcome says its subscription is
      live, and polls every --poll seconds (0.5; 0: events only).
  cp.py [--endpoint EP[,EP...]] --stream CONSUMER [--state FILE]
        [--count N] [--idle S]
      reads the durable result stream (service assay.stream) as the
      consumer CONSUMER and prints one JSON line per result (its evidence
      record, with its stream position); exit 0 after N results, or S
      seconds with nothing new (default: runs until killed), 2 on error.
      It resumes where it stopped: from the position in FILE if there
      is one, else after the consumer's acknowledged position. After
      each page it replaces FILE (a temporary file, then a rename), then
      acknowledges the page, which lets retention free what was read.
      So with --state every result is printed once across runs, except
      that one killed between printing a page and replacing FILE prints
      that page again (nothing is lost); without --state the ack alone
      is the bookmark, with the same window up to the ack. Results that
      expired before they were read are counted on stderr. A member
      silent for a second, or one that stopped leading, is left for the
      next; --timeout bounds each request instead of the whole run.
  cp.py [--endpoint EP] --check-service NAME
      asks the member whether it offers service NAME (RFC 8 MMI)

Security (docs/security.md): every socket is CURVE, presenting the key
--key (operator) from --keys-dir ($ASSAY_KEYS_DIR, else
~/.config/assay/keys) and trusting the cluster's key there; --security
none talks plain TCP to a cluster run without security.
"""
import argparse
import json
import os
import re
import sys
import time
import uuid

import msgpack
import zmq

MDP_CLIENT = b"MDPC01"
TERMINAL = ("completed", "failed", "cancelled")
WELCOME = b"assay.welcome"
WELCOME_WAIT_S = 2.0  # a member older than the welcome never sends one
STREAM = "assay.stream"
STREAM_PAGE = 1000  # records one read returns at most
# How long a read waits at the stream's end for the next result: under
# the silence bound, so a member that is waiting is not taken for a
# dead one.
STREAM_WAIT_S = 0.5
STREAM_SILENCE_S = 1.0


class Failure(Exception):
    """A protocol error, a timeout or an error reply: exit code 2."""


NOT_LEADER = "ASSAY_ENOTLEADER"


def zcert_key(path, field):
    """A key from a zcert file (ZPL text): curve/public-key or
    curve/secret-key, the 40 Z85 characters."""
    with open(path, encoding="ascii") as f:
        m = re.search(r'^\s*%s\s*=\s*"(.{40})"' % field, f.read(), re.M)
    if not m:
        raise Failure("%s: no %s in it (not a zcert key file)" % (path, field))
    return m.group(1).encode()


class Security:
    """What every socket presents: the CURVE keys, or None for plain."""

    def __init__(self, mode, keys_dir, key):
        self.keys = None
        if mode == "none":
            return
        keys_dir = keys_dir or os.environ.get("ASSAY_KEYS_DIR") or \
            os.path.join(os.environ.get("XDG_CONFIG_HOME") or
                         os.path.expanduser("~/.config"), "assay", "keys")
        try:
            own = os.path.join(keys_dir, key + ".key_secret")
            self.keys = (zcert_key(os.path.join(keys_dir, "cluster.key"),
                                   "public-key"),
                         zcert_key(own, "public-key"),
                         zcert_key(own, "secret-key"))
        except OSError as e:
            raise Failure("%s: %s (the member's user has the keys; see "
                          "docs/security.md)" % (e.filename, e.strerror))

    def apply(self, sock):
        if self.keys:
            (sock.curve_serverkey, sock.curve_publickey,
             sock.curve_secretkey) = self.keys


SECURITY = None  # set by main()


class Client:
    """One Majordomo (RFC 7) client on a DEALER socket: every request is
    [""]["MDPC01"][service][body] and so is every reply. `endpoints` are
    the cluster's members; requests go to one at a time. `silence`: the
    seconds a member may stay silent before the next one (or, alone,
    the same one on a fresh socket) is asked; by default 1 s with
    several members, else until the deadline."""

    def __init__(self, ctx, endpoints, deadline, on_leader=None,
                 silence=None):
        self.ctx, self.endpoints, self.deadline = ctx, endpoints, deadline
        self.on_leader = on_leader  # called with a redirect's reply
        self.silence = silence
        self.current, self.sock = 0, None
        self.switch(0)

    def switch(self, i):
        """Talks to endpoints[i] on a fresh socket (no stale replies)."""
        if self.sock is not None:
            self.sock.close(linger=0)
        self.current = i
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        SECURITY.apply(self.sock)
        self.sock.connect(self.endpoints[i])

    def next_member(self):
        self.switch((self.current + 1) % len(self.endpoints))

    def raw(self, service, body, wait_s=None):
        self.sock.send_multipart([b"", MDP_CLIENT, service.encode(), body])
        left = self.deadline - time.monotonic()
        wait_ms = max(0, int(min(left, wait_s or left) * 1000))
        if not self.sock.poll(wait_ms):
            raise TimeoutError("%s: no reply (timed out)" % service)
        frames = self.sock.recv_multipart()
        if (len(frames) != 4 or frames[0] != b"" or frames[1] != MDP_CLIENT
                or frames[2] != service.encode()):
            raise Failure("%s: malformed reply %r" % (service, frames[:3]))
        return frames[3]

    def call(self, service, body):
        """Sends a msgpack map, returns the reply map if ok is true.
        Follows redirects to the leader; a silent member gets a second
        (or `silence`) before the next one is asked."""
        while True:
            if time.monotonic() >= self.deadline:
                raise Failure("%s: no leader answered (timed out)" % service)
            try:
                wait = self.silence or \
                    (1.0 if len(self.endpoints) > 1 else None)
                raw = self.raw(service, msgpack.packb(body), wait)
            except TimeoutError as e:
                if wait is None:
                    raise Failure(str(e))
                self.next_member()
                continue
            reply = msgpack.unpackb(raw, raw=False)
            if not isinstance(reply, dict):
                raise Failure("%s: reply body is not a map" % service)
            if reply.get("error") == NOT_LEADER:
                leader = reply.get("leader")
                if leader and leader != self.endpoints[self.current]:
                    if leader not in self.endpoints:
                        self.endpoints.append(leader)
                    if self.on_leader:
                        self.on_leader(reply)
                    self.switch(self.endpoints.index(leader))
                else:  # an election is under way
                    time.sleep(0.1)
                    self.next_member()
                continue
            if reply.get("ok") is not True:
                raise Failure("%s: %s (%s)" % (service, reply.get("message"),
                                               reply.get("error")))
            return reply


def outcome(job):
    """(line, passed) for a job in a terminal state."""
    result = job.get("result") or {}
    status = result.get("status", "-")
    text = result.get("message") if job["state"] == "completed" \
        else job.get("reason", "")
    line = "%s %s %s %s" % (job["id"], job["state"], status, text or "")
    return line.rstrip(), job["state"] == "completed" and status == "pass"


def wait_welcome(events, deadline):
    """Waits, bounded, for the member's [assay.welcome][{}]: it comes once
    the subscriptions set before it have reached the member, so no event
    caused from then on is lost. Job events that come first are kept."""
    early = []
    until = min(deadline, time.monotonic() + WELCOME_WAIT_S)
    while True:
        left = until - time.monotonic()
        if left <= 0 or not events.poll(int(left * 1000) + 1):
            return early
        frames = events.recv_multipart()
        if frames[0] == WELCOME:
            return early
        early.append(frames)


def run(args):
    deadline = time.monotonic() + args.timeout
    ctx = zmq.Context()
    try:
        events = ctx.socket(zmq.SUB)
        SECURITY.apply(events)
        events.setsockopt(zmq.LINGER, 0)
        events.setsockopt(zmq.SUBSCRIBE, b"job.")
        events.connect(args.events)
        # Last, so that the welcome follows the job. subscription.
        events.setsockopt(zmq.SUBSCRIBE, WELCOME)
        # Only the leader publishes; a SUB socket may listen to several.
        heard = {args.events}

        def on_leader(reply):
            ev = reply.get("events")
            if ev and ev not in heard:
                heard.add(ev)
                events.connect(ev)

        client = Client(ctx, args.endpoint.split(","), deadline, on_leader)
        if args.check_service:
            code = client.raw("mmi.service", args.check_service.encode())
            print(code.decode(errors="replace"))
            return 0 if code == b"200" else 1

        with open(args.spec, encoding="utf-8") as f:
            spec = json.load(f)

        # Welcomed before submitting, so no event of ours can be missed
        # except through a leader change (or a member without welcomes),
        # which the polling below covers. An id chosen here makes a
        # retried submission return the original jobs.
        pending = wait_welcome(events, deadline)
        spec.setdefault("id", uuid.uuid4().hex)
        reply = client.call("assay.submit", spec)
        spec_id, wanted = reply["spec"], list(reply["jobs"])
        print("spec %s%s: %s" % (spec_id, " (duplicate)" if
                                 reply.get("duplicate") else "",
                                 " ".join(wanted)))

        final = {}  # job id -> job map in a terminal state
        # --poll 0: events only; otherwise the first poll comes at once.
        next_poll = 0.0 if args.poll > 0 else float("inf")
        while len(final) < len(wanted):
            now = time.monotonic()
            if now >= deadline:
                raise Failure("timed out: %d of %d jobs ended"
                              % (len(final), len(wanted)))
            if now >= next_poll:  # robust to missed events
                r = client.call("assay.job", {"id": spec_id})
                for job in r.get("jobs") or [r.get("job")]:
                    if job and job["id"] in wanted and \
                            job["state"] in TERMINAL:
                        final[job["id"]] = job
                next_poll = now + args.poll
                continue
            if pending:
                frames = pending.pop(0)
            elif events.poll(int((min(next_poll, deadline) - now) * 1000)
                             + 1):
                frames = events.recv_multipart()
            else:
                continue
            # Other clients' welcomes come too; only job events count.
            if (len(frames) == 2 and frames[0].decode(errors="replace") in
                    ("job." + s for s in TERMINAL)):
                job = msgpack.unpackb(frames[1], raw=False)
                if job.get("id") in wanted:
                    final[job["id"]] = job

        passed = True
        for jid in wanted:
            line, ok = outcome(final[jid])
            print(line)
            passed = passed and ok
        return 0 if passed else 1
    finally:
        ctx.destroy(linger=0)


def load_position(path):
    """The last position a previous run printed, from --state; None
    when there is no such file (then the consumer's ack is the start)."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise Failure("%s: not a stream position (an integer >= 0): %r"
                      % (path, text[:40]))
    return int(text)


def save_position(path, position):
    """Replaces --state atomically: a temporary file beside it, synced,
    then renamed over it. A kill leaves the old position or the new."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % position)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stream_call(client, body, timeout):
    """One assay.stream request, given `timeout` seconds to find a
    leader that answers (the run itself is not bounded)."""
    client.deadline = time.monotonic() + timeout
    return client.call(STREAM, body)


def print_page(events):
    """One JSON line per record, flushed before the position moves."""
    for rec in events:
        sys.stdout.write(json.dumps(rec, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def stream(args):
    """--stream: reads pages from the position, waiting at the end; each
    printed page moves --state, then the consumer's acknowledgement."""
    position = load_position(args.state) if args.state else None
    ctx = zmq.Context()
    try:
        client = Client(ctx, args.endpoint.split(","), 0,
                        silence=STREAM_SILENCE_S)
        seen, said_behind = 0, False
        last_new = time.monotonic()
        while args.count is None or seen < args.count:
            wait = STREAM_WAIT_S
            if args.idle is not None:
                wait = min(wait, last_new + args.idle - time.monotonic())
                if wait <= 0:
                    break
            req = {"op": "read", "consumer": args.stream,
                   "max": STREAM_PAGE if args.count is None
                   else min(STREAM_PAGE, args.count - seen),
                   "wait_ms": int(wait * 1000)}
            if position is not None:  # else after the consumer's ack
                req["from"] = position
            reply = stream_call(client, req, args.timeout)
            events, nxt = reply.get("events") or [], reply["next"]
            if reply.get("gone"):
                print("cp.py: %d results expired before they were read "
                      "(up to position %d)" % (reply["gone"], nxt),
                      file=sys.stderr)
            consumer = reply.get("consumer") or {}
            if consumer.get("behind") and not said_behind:
                print("cp.py: consumer %s is further behind than the "
                      "cluster's stream_max_lag: results may expire before "
                      "it reads them" % args.stream, file=sys.stderr)
                said_behind = True
            print_page(events)
            seen += len(events)
            if events:
                last_new = time.monotonic()
            if args.state and nxt != position:
                save_position(args.state, nxt)
            position = nxt
            # Also makes good an ack a previous run did not get to send.
            if nxt > consumer.get("acked", 0):
                stream_call(client, {"op": "ack", "consumer": args.stream,
                                     "position": nxt}, args.timeout)
        return 0
    finally:
        ctx.destroy(linger=0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default="tcp://127.0.0.1:7400")
    p.add_argument("--events", default="tcp://127.0.0.1:7401")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds for the whole run (default 60); with "
                        "--stream, for each request")
    p.add_argument("--poll", type=float, default=0.5,
                   help="seconds between assay.job polls (default 0.5; "
                        "0: rely on events alone)")
    p.add_argument("--check-service", metavar="NAME")
    p.add_argument("--stream", metavar="CONSUMER",
                   help="read the result stream as this durable consumer")
    p.add_argument("--state", metavar="FILE",
                   help="--stream: where the last printed position is kept")
    p.add_argument("--count", type=int, metavar="N",
                   help="--stream: stop after N results")
    p.add_argument("--idle", type=float, metavar="S",
                   help="--stream: stop after S seconds with nothing new")
    p.add_argument("--security", choices=("curve", "none"),
                   default=os.environ.get("ASSAY_SECURITY", "curve"))
    p.add_argument("--keys-dir")
    p.add_argument("--key", default="operator")
    p.add_argument("spec", nargs="?", metavar="SPEC.json")
    args = p.parse_args()
    modes = [m for m in (args.spec, args.check_service, args.stream) if m]
    if len(modes) != 1:
        p.error("one of SPEC.json, --check-service NAME or --stream "
                "CONSUMER is required")
    if not args.stream and (args.state or args.count is not None or
                            args.idle is not None):
        p.error("--state, --count and --idle go with --stream")
    if args.count is not None and args.count < 1:
        p.error("--count: at least 1")
    if args.idle is not None and args.idle <= 0:
        p.error("--idle: seconds above 0")
    global SECURITY
    try:
        SECURITY = Security(args.security, args.keys_dir, args.key)
        return stream(args) if args.stream else run(args)
    except (Failure, OSError, ValueError, KeyError, zmq.ZMQError) as e:
        print("cp.py: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
