#!/usr/bin/python3
"""bench/peers/assay_raft.py BUILD [assay-bench run options...] - runs
`assay-bench run` against a durable Assay cluster started exactly as
`bench/bench-raft.py BUILD e2e` starts it (its Cluster: raft members with
their log under a temporary data_dir, fsync'd by raft's libuv I/O, plus two
runtimes with 2 executors and 64 jobs each), for the measurements
bench-raft.py's e2e mode does not offer: the open-loop latency mode
(--rate) and one job per JobSpec (--per-spec 1). Used by bench/compare.

  --members M   raft members (default 1)
  everything else is passed to `BUILD/bin/assay-bench run --endpoint
  LEADER --events ITS_EVENTS` (add --json for its one JSON object:
  mode, jobs_per_s, latency_ms.p50/p99 in ms, rate, ok, ...)

Imports bench/bench-raft.py (needs python3-zmq, python3-msgpack); stops
everything it started and removes the data directory.
"""
import importlib.util
import os
import shutil
import sys
import tempfile

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "bench_raft", os.path.join(HERE, "..", "bench-raft.py"))
br = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(br)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    rest = sys.argv[2:]
    members = 1
    if "--members" in rest:
        k = rest.index("--members")
        members = int(rest[k + 1])
        del rest[k:k + 2]
    tmp = tempfile.mkdtemp(prefix="assay-raft-peers.")
    cluster = br.Cluster(build, members, tmp)
    ctx = zmq.Context()
    try:
        cluster.start_all(2)
        br.wait_ready(ctx, cluster, runtimes=2)
        lead = br.leader_of(ctx, cluster)
        if lead is None:
            print("assay_raft: no leader", file=sys.stderr)
            return 1
        return br.assay_bench_run(cluster, lead, rest)
    finally:
        ctx.destroy(linger=0)
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
