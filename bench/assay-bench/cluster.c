/* bench/assay-bench/cluster.c - the cluster assay-bench starts: its
 * members (one with consensus none, or three raft members) on free
 * loopback ports, the real runtimes that join them, and the list of the
 * members' endpoints (theirs with --endpoint, and any a redirect names). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

int bench_start_member(s_bench *b, int i)
{
    s_proc *p = &b->procs[b->member_proc[i]];
    return bench_spawn(b, p);
}

int bench_start_cluster(s_bench *b, int members)
{
    b->own = true;
    b->consensus_members = members;
    b->neps = members;
    char all[256] = "";
    for (int i = 0; i < members; i++) {
        snprintf(b->eps[i], sizeof b->eps[i], "tcp://127.0.0.1:%d",
                 bench_free_port());
        snprintf(b->evs[i], sizeof b->evs[i], "tcp://127.0.0.1:%d",
                 bench_free_port());
        snprintf(b->raft[i], sizeof b->raft[i], "127.0.0.1:%d",
                 bench_free_port());
        size_t len = strlen(all);
        snprintf(all + len, sizeof all - len, "%s%d@%s", i ? " " : "", i + 1,
                 b->raft[i]);
    }
    for (int i = 0; i < members; i++) {
        char name[32];
        snprintf(name, sizeof name, "member%d", i + 1);
        b->member_proc[i] = b->nprocs;
        s_proc *p = bench_proc_new(b, name, true);
        bench_arg(p, "assayd");
        bench_arg(p, "--node-id");
        bench_arg(p, "%s", name);
        bench_arg(p, "--executors");
        bench_arg(p, "0");
        bench_arg(p, "--listen");
        bench_arg(p, "%s", b->eps[i]);
        bench_arg(p, "--events");
        bench_arg(p, "%s", b->evs[i]);
        bench_arg(p, "--set");
        bench_arg(p, "log_level=warn");
        bench_arg(p, "--set");
        bench_arg(p, "security=%s", b->o.plain ? "none" : "curve");
        if (b->o.runtimes > 4096) { /* the member's default max_runtimes */
            bench_arg(p, "--set");
            bench_arg(p, "max_runtimes=%ld", b->o.runtimes);
        }
        for (int k = 0; k < b->o.n_member_sets; k++) {
            bench_arg(p, "--set");
            bench_arg(p, "%s", b->o.member_sets[k]);
        }
        if (members > 1) {
            bench_arg(p, "--set");
            bench_arg(p, "consensus=raft");
            bench_arg(p, "--set");
            bench_arg(p, "member_id=%d", i + 1);
            bench_arg(p, "--set");
            bench_arg(p, "members=%s", all);
            bench_arg(p, "--set");
            bench_arg(p, "raft_address=%s", b->raft[i]);
            bench_arg(p, "--set");
            bench_arg(p, "data_dir=%s/%s", b->tmp, name);
        }
        if (bench_start_member(b, i))
            return -1;
    }
    return 0;
}

int bench_start_real_runtimes(s_bench *b, long n)
{
    for (long k = 0; k < n; k++) {
        char name[32];
        bench_fmt(name, sizeof name, "%s%ld", b->rt_prefix, k + 1);
        s_proc *p = bench_proc_new(b, name, false);
        if (!p)
            return -1;
        bench_arg(p, "assayd");
        bench_arg(p, "--node-id");
        bench_arg(p, "%s", name);
        for (int i = 0; i < b->neps; i++) {
            bench_arg(p, "--join");
            bench_arg(p, "%s", b->eps[i]);
        }
        if (b->plugins[0]) {
            bench_arg(p, "--plugins-dir");
            bench_arg(p, "%s", b->plugins);
        }
        bench_arg(p, "--executors");
        bench_arg(p, "%d", b->o.executors);
        bench_arg(p, "--set");
        bench_arg(p, "jobs_per_executor=%d", b->o.depth);
        bench_arg(p, "--set");
        bench_arg(p, "max_cpu_percent=100");
        bench_arg(p, "--set");
        bench_arg(p, "min_mem_free_percent=0");
        bench_arg(p, "--set");
        bench_arg(p, "heartbeat_ms=%d", b->o.heartbeat_ms);
        bench_arg(p, "--set");
        bench_arg(p, "log_level=warn");
        bench_arg(p, "--set");
        bench_arg(p, "security=%s", b->o.plain ? "none" : "curve");
        if (bench_spawn(b, p))
            return -1;
    }
    return 0;
}

/* Index of `ep` in eps, added when new and there is room; -1 otherwise. */
int bench_ep_index(s_bench *b, const char *ep)
{
    if (!ep || !*ep)
        return -1;
    for (int i = 0; i < b->neps; i++)
        if (!strcmp(b->eps[i], ep))
            return i;
    if (b->neps == MAX_EPS || strlen(ep) >= sizeof b->eps[0])
        return -1;
    snprintf(b->eps[b->neps], sizeof b->eps[0], "%s", ep);
    b->evs[b->neps][0] = '\0';
    return b->neps++;
}
